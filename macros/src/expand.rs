//! The pipeline: parse, check, generate.

use proc_macro2::TokenStream;

use crate::errors::Errors;
use crate::{check, generate, parse};

/// Expands `#[machine(args)] item`. Always returns tokens: the expansion, or the errors and a
/// skeleton of the module.
pub(crate) fn machine(args: TokenStream, item: &TokenStream) -> TokenStream {
    let errors = Errors::new();
    let ast = match parse::machine(args, item, &errors) {
        Ok(ast) => ast,
        Err(fatal) => {
            errors.push(fatal);
            let err = errors.finish().err().map(|e| e.to_compile_error());
            return quote::quote!(#err #item);
        }
    };
    let model = check::machine(&ast, &errors);
    match (errors.finish(), model) {
        (Ok(()), Some(model)) => generate::machine(&model),
        (Err(e), _) => {
            let err = e.to_compile_error();
            let skeleton = generate::skeleton(&ast);
            quote::quote!(#err #skeleton)
        }
        (Ok(()), None) => unreachable!("the checks return no model only after reporting an error"),
    }
}
