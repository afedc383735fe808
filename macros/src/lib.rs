//! The proc-macro behind [statebound](https://docs.rs/statebound). Depend on `statebound`, which
//! re-exports [`machine`] and holds what the generated code needs.

mod ast;
mod check;
mod errors;
mod expand;
mod generate;
mod model;
mod parse;
mod suggest;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Turns an inline module that declares a state graph into typestate code.
///
/// See the `statebound` crate for the grammar and a full example.
#[proc_macro_attribute]
pub fn machine(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::machine(args.into(), item.into()).into()
}
