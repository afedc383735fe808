//! Expansion snapshots: the macro's output for a small machine and for River's session graph,
//! pretty-printed. Regenerate with `UPDATE_EXPECT=1 cargo test -p statebound-macros`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand;

fn pretty(tokens: &TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => panic!("expansion does not parse as a file: {e}\n{tokens}"),
    }
}

/// Splits `#[statebound::machine(args)] mod m { .. }` found in a source file into the macro's
/// arguments and its item.
fn machine_in(source: &str) -> (TokenStream, TokenStream) {
    let file = syn::parse_file(source).expect("source parses");
    for item in file.items {
        let syn::Item::Mod(mut module) = item else {
            continue;
        };
        let Some(pos) = module.attrs.iter().position(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "machine")
        }) else {
            continue;
        };
        let attr = module.attrs.remove(pos);
        let args = match attr.meta {
            syn::Meta::List(list) => list.tokens,
            _ => TokenStream::new(),
        };
        return (args, quote!(#module));
    }
    panic!("no `#[machine]` module in the source");
}

#[test]
fn small_machine() {
    let item = quote! {
        mod door {
            /// Carried across transitions.
            #[context]
            pub struct Door { pub opened: u32 }

            /// Shut.
            #[state(exit = leave_shut)]
            #[entry(install)]
            #[transition(open -> Open)]
            pub struct Shut;

            /// Open.
            #[state(transient)]
            #[transition(shut -> Shut)]
            pub struct Open { pub since: u64 }

            fn leave_shut(_: &mut Shut, door: &mut Door) { door.opened += 1; }
        }
    };
    let out = pretty(&expand::machine(TokenStream::new(), &item));
    expect_test::expect_file!["../snapshots/door.rs"].assert_eq(&out);
}

#[test]
fn river_session_graph() {
    let (args, item) = machine_in(include_str!("../../spec/src/graph.rs"));
    let out = pretty(&expand::machine(args, &item));
    expect_test::expect_file!["../snapshots/river_session.rs"].assert_eq(&out);
}

#[test]
fn errors_come_with_a_skeleton() {
    let item = quote! {
        mod door {
            #[state]
            #[entry(install)]
            #[transition(open -> Opn)]
            pub struct Shut;
            #[state]
            pub struct Open;
        }
    };
    let out = expand::machine(TokenStream::new(), &item).to_string();
    assert!(
        out.contains("unknown state `Opn`; did you mean `Open`?"),
        "{out}"
    );
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    assert!(out.contains("pub struct Machine"), "{out}");
    assert!(out.contains("pub enum AnyState"), "{out}");
}

#[test]
fn the_crate_argument_replaces_every_path_to_the_runtime() {
    let item = quote! {
        mod door {
            #[state]
            #[entry(install)]
            #[transition(open -> Open)]
            pub struct Shut;
            #[state]
            pub struct Open;
        }
    };
    let out = expand::machine(quote!(crate = ::wrapper::rt), &item).to_string();
    assert!(!out.contains("statebound"), "{out}");
    assert!(out.contains(":: wrapper :: rt :: __private"), "{out}");

    // The skeleton emitted beside an error too.
    let broken = quote! {
        mod door {
            #[state]
            #[entry(install)]
            #[transition(open -> Opn)]
            pub struct Shut;
        }
    };
    let out = expand::machine(quote!(crate = ::wrapper::rt), &broken).to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(!out.contains("statebound"), "{out}");
}
