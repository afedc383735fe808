//! Expanded size: a crate root with each `#[statebound::machine]` module replaced by what the
//! macro's pipeline makes of it, pretty-printed with prettyplease, counted in lines. A crate
//! without the macro is pretty-printed the same way, so both variants are counted alike.

use proc_macro2::TokenStream;
use quote::quote;

/// Lines of the pretty-printed crate root after expanding its machines.
pub(crate) fn expanded_lines(source: &str) -> Result<usize, String> {
    expanded(source).map(|out| out.lines().count())
}

/// The pretty-printed crate root after expanding its machines.
pub(crate) fn expanded(source: &str) -> Result<String, String> {
    let file = syn::parse_file(source).map_err(|e| format!("source does not parse: {e}"))?;
    let mut items = Vec::new();
    for item in file.items {
        match item {
            syn::Item::Mod(mut module) => match take_machine_attr(&mut module) {
                Some(args) => {
                    let expanded = crate::expand::machine(args, &quote!(#module));
                    let expanded: syn::File = syn::parse2(expanded)
                        .map_err(|e| format!("expansion does not parse: {e}"))?;
                    items.extend(expanded.items);
                }
                None => items.push(syn::Item::Mod(module)),
            },
            other => items.push(other),
        }
    }
    let out = prettyplease::unparse(&syn::File {
        shebang: None,
        attrs: file.attrs,
        items,
    });
    if out.contains("compile_error") {
        return Err("the macro reported an error".to_owned());
    }
    Ok(out)
}

/// Removes the `#[statebound::machine(args)]` attribute from `module` and returns its
/// arguments, or returns `None` for a module without it.
fn take_machine_attr(module: &mut syn::ItemMod) -> Option<TokenStream> {
    let pos = module.attrs.iter().position(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "machine")
    })?;
    match module.attrs.remove(pos).meta {
        syn::Meta::List(list) => Some(list.tokens),
        _ => Some(TokenStream::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_macro_variant_expands_to_more_than_it_declares() {
        let source = crate::ring::with_macro(3, true);
        let declared = prettyplease::unparse(&syn::parse_file(&source).expect("parses"));
        let expanded = expanded_lines(&source).expect("expands");
        assert!(expanded > declared.lines().count(), "{expanded} lines");
    }

    #[test]
    fn a_crate_without_machines_is_only_pretty_printed() {
        let source = crate::ring::by_hand(3, true);
        let pretty = prettyplease::unparse(&syn::parse_file(&source).expect("parses"));
        assert_eq!(expanded_lines(&source), Ok(pretty.lines().count()));
    }

    #[test]
    fn a_macro_error_is_not_counted() {
        let source = "#[statebound::machine] mod m { #[state] pub struct A; }";
        assert!(expanded_lines(source).is_err());
    }
}
