//! Tokens to [`ast`](crate::ast): syntax and the checks that need only one attribute at a time.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Item, ItemMod, ItemStruct, Meta, Token};

use crate::ast;
use crate::errors::Errors;

const ATTRS: [&str; 4] = ["state", "context", "entry", "transition"];

/// Parses the macro's arguments and the annotated item. Errors that leave nothing to work with
/// (the item is not an inline module) are returned; the rest are pushed to `errors` and parsing
/// goes on, so that one expansion reports them all.
pub(crate) fn machine(
    args: TokenStream,
    item: &TokenStream,
    errors: &Errors,
) -> syn::Result<ast::Machine> {
    let args = parse_args(args, errors);
    let mut module: ItemMod = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Mod(module)) => module,
        Ok(other) => {
            return Err(syn::Error::new(
                item_keyword_span(&other),
                "`#[machine]` expects an inline module: `mod name { ... }`",
            ));
        }
        Err(e) => return Err(e),
    };
    let Some((_, items)) = module.content.as_mut() else {
        return Err(syn::Error::new(
            module.semi.span(),
            "`#[machine]` expects an inline module with its states inside: `mod name { ... }`, not `mod name;`",
        ));
    };

    let mut context = Vec::new();
    if let Some(path) = &args.context {
        match path.segments.last() {
            Some(last) => context.push(ast::Context {
                ident: last.ident.clone(),
                path: path.clone(),
                attr: last.ident.span(),
            }),
            None => errors.push(syn::Error::new_spanned(path, "expected a type path")),
        }
    }
    let mut states = Vec::new();
    let mut fns = Vec::new();
    let mut item_idents = Vec::new();
    for item in items.iter_mut() {
        if let Some(attrs) = item_attrs(item) {
            reject_conditional_attrs(attrs, errors);
        }
        match item {
            Item::Struct(s) => {
                item_idents.push(s.ident.clone());
                parse_struct(s, errors, &mut context, &mut states);
            }
            Item::Fn(f) => {
                item_idents.push(f.sig.ident.clone());
                reject_attrs(&mut f.attrs, errors);
                fns.push(f.sig.clone());
            }
            other => {
                if let Some(ident) = item_ident(other) {
                    item_idents.push(ident);
                }
                if let Some(attrs) = item_attrs(other) {
                    reject_attrs(attrs, errors);
                }
            }
        }
    }
    Ok(ast::Machine {
        args,
        module,
        context,
        states,
        fns,
        item_idents,
    })
}

fn parse_args(tokens: TokenStream, errors: &Errors) -> ast::Args {
    let mut args = ast::Args::default();
    let parser = syn::meta::parser(|meta| {
        let slot = if meta.path.is_ident("name") {
            &mut args.name
        } else if meta.path.is_ident("any") {
            &mut args.any
        } else if meta.path.is_ident("context") || meta.path.is_ident("crate") {
            let slot = if meta.path.is_ident("context") {
                &mut args.context
            } else {
                &mut args.krate
            };
            if slot.is_some() {
                return Err(meta.error("this argument is given twice"));
            }
            *slot = Some(meta.value()?.parse::<syn::Path>()?);
            return Ok(());
        } else {
            return Err(meta.error(format!(
                "unknown argument `{}`; expected `name = Ident`, `any = Ident`, `context = Path` or `crate = Path`",
                path_text(&meta.path)
            )));
        };
        if slot.is_some() {
            return Err(meta.error("this argument is given twice"));
        }
        *slot = Some(meta.value()?.parse::<Ident>()?);
        Ok(())
    });
    if let Err(e) = parser.parse2(tokens) {
        errors.push(e);
    }
    args
}

fn parse_struct(
    item: &mut ItemStruct,
    errors: &Errors,
    context: &mut Vec<ast::Context>,
    states: &mut Vec<ast::State>,
) {
    let ours = take_attrs(&mut item.attrs);
    if ours.is_empty() {
        return;
    }
    let state_attr = ours.iter().find(|a| a.path().is_ident("state"));
    let context_attr = ours.iter().find(|a| a.path().is_ident("context"));

    if let Some(ctx) = context_attr {
        parse_context(item, ctx, state_attr, &ours, errors, context);
        return;
    }

    if state_attr.is_none() {
        for attr in &ours {
            errors.push_spanned(
                attr.path().span(),
                format!(
                    "`#[{}]` is only allowed on a struct marked `#[state]`",
                    path_text(attr.path())
                ),
            );
        }
        return;
    }
    let gated = reject_cfg(&item.attrs, "a state", errors);
    let generic = !item.generics.params.is_empty();
    if generic {
        let message = if item.generics.lifetimes().count() == item.generics.params.len() {
            "a state cannot have lifetime parameters: the machine owns its state's data"
        } else {
            "a state cannot be generic"
        };
        errors.push(syn::Error::new_spanned(&item.generics, message));
    }

    let mut state = ast::State {
        ident: item.ident.clone(),
        unnameable: generic || gated,
        doc: first_doc_line(&item.attrs),
        exit: None,
        close: None,
        transient: None,
        entries: Vec::new(),
        transitions: Vec::new(),
    };
    let mut seen_state = false;
    for attr in &ours {
        if attr.path().is_ident("state") {
            if seen_state {
                errors.push_spanned(attr.path().span(), "duplicate `#[state]` attribute");
                continue;
            }
            seen_state = true;
            parse_state_args(attr, &mut state, errors);
        } else if attr.path().is_ident("entry") {
            if matches!(attr.meta, Meta::Path(_)) {
                errors.push_spanned(
                    attr.path().span(),
                    "`#[entry]` needs a role: `#[entry(client)]`",
                );
                continue;
            }
            match attr.parse_args_with(|input: ParseStream<'_>| {
                input.parse_terminated(<Ident as syn::parse::Parse>::parse, Token![,])
            }) {
                Ok(roles) if roles.is_empty() => errors.push_spanned(
                    attr.path().span(),
                    "`#[entry]` needs a role: `#[entry(client)]`",
                ),
                Ok(roles) => state.entries.extend(roles),
                Err(e) => errors.push(syn::Error::new(
                    e.span(),
                    format!("{e}: an entrypoint is a role name, `#[entry(client)]`"),
                )),
            }
        } else if attr.path().is_ident("transition") {
            match attr.parse_args_with(parse_transition) {
                Ok(t) => state.transitions.push(t),
                Err(e) => errors.push(e),
            }
        }
    }
    states.push(state);
}

/// `#[state]` or `#[state(exit = path, close = path, transient)]`.
fn parse_state_args(attr: &Attribute, state: &mut ast::State, errors: &Errors) {
    if matches!(attr.meta, Meta::Path(_)) {
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("exit") || meta.path.is_ident("close") {
            let slot = if meta.path.is_ident("exit") {
                &mut state.exit
            } else {
                &mut state.close
            };
            if slot.is_some() {
                return Err(meta.error(format!("duplicate `{}` hook", path_text(&meta.path))));
            }
            *slot = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("transient") {
            if state.transient.is_some() {
                return Err(meta.error("duplicate `transient`"));
            }
            state.transient = Some(meta.path.span());
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown state option `{}`; expected `exit = fn`, `close = fn` or `transient`",
                path_text(&meta.path)
            )))
        }
    });
    if let Err(e) = result {
        errors.push(e);
    }
}

fn parse_transition(input: ParseStream<'_>) -> syn::Result<ast::Transition> {
    const SHAPE: &str = "`#[transition(name -> State)]`";
    let name: Ident = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("expected a transition name: {SHAPE}")))?;
    input.parse::<Token![->]>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("expected `->` between the transition name and its target: {SHAPE}"),
        )
    })?;
    let target: Ident = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("expected the target state: {SHAPE}")))?;
    if !input.is_empty() {
        return Err(input.error(format!("unexpected tokens after the target state: {SHAPE}")));
    }
    Ok(ast::Transition { name, target })
}

/// Removes statebound's attributes from `attrs` and returns them.
fn take_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (ours, theirs) = std::mem::take(attrs)
        .into_iter()
        .partition(|a| ATTRS.iter().any(|name| a.path().is_ident(name)));
    *attrs = theirs;
    ours
}

/// A state or the context may not be `#[cfg]`-gated: the graph is checked and generated before
/// `cfg` is evaluated, so a state that `cfg` removes would leave the generated code naming a
/// type that does not exist. Returns whether there was such an attribute.
fn reject_cfg(attrs: &[Attribute], what: &str, errors: &Errors) -> bool {
    let mut gated = false;
    for attr in attrs.iter().filter(|a| a.path().is_ident("cfg")) {
        gated = true;
        errors.push_spanned(
            attr.path().span(),
            format!(
                "{what} cannot be `#[cfg]`-gated: a machine's graph must be the same in every build"
            ),
        );
    }
    gated
}

/// statebound's attributes may not be applied through `#[cfg_attr]`: the macro runs before
/// `cfg_attr` is evaluated, so it would never see them.
fn reject_conditional_attrs(attrs: &[Attribute], errors: &Errors) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("cfg_attr")) {
        // A `cfg_attr` that does not parse is left to rustc to report.
        if let Ok(inner) = attr.parse_args_with(cfg_attr_contents) {
            reject_ours_in(&inner, errors);
        }
    }
}

/// The attributes of `cfg_attr(predicate, attr, ..)`.
fn cfg_attr_contents(input: ParseStream<'_>) -> syn::Result<Vec<Meta>> {
    input.parse::<Meta>()?;
    input.parse::<Token![,]>()?;
    Ok(input
        .parse_terminated(Meta::parse, Token![,])?
        .into_iter()
        .collect())
}

fn reject_ours_in(metas: &[Meta], errors: &Errors) {
    for meta in metas {
        let path = meta.path();
        if path.is_ident("cfg_attr") {
            if let Meta::List(list) = meta
                && let Ok(inner) = list.parse_args_with(cfg_attr_contents)
            {
                reject_ours_in(&inner, errors);
            }
        } else if ATTRS.iter().any(|name| path.is_ident(name)) {
            errors.push_spanned(
                path.span(),
                format!(
                    "`#[{}]` cannot be applied through `#[cfg_attr]`: a machine's graph must be the same in every build",
                    path_text(path)
                ),
            );
        }
    }
}

fn reject_attrs(attrs: &mut Vec<Attribute>, errors: &Errors) {
    for attr in take_attrs(attrs) {
        errors.push_spanned(
            attr.path().span(),
            format!(
                "`#[{}]` is only allowed on a struct",
                path_text(attr.path())
            ),
        );
    }
}

fn first_doc_line(attrs: &[Attribute]) -> String {
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta
            && nv.path.is_ident("doc")
            && let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            // A block comment arrives as one attribute with every line in it, each perhaps led
            // by the ` * ` of its layout.
            let text = s.value();
            let first = text
                .lines()
                .map(|l| l.trim().trim_start_matches('*').trim())
                .find(|l| !l.is_empty());
            if let Some(line) = first {
                return line.to_owned();
            }
        }
    }
    String::new()
}

pub(crate) fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn item_ident(item: &Item) -> Option<Ident> {
    match item {
        Item::Const(i) => Some(i.ident.clone()),
        Item::Enum(i) => Some(i.ident.clone()),
        Item::Static(i) => Some(i.ident.clone()),
        Item::Trait(i) => Some(i.ident.clone()),
        Item::Type(i) => Some(i.ident.clone()),
        Item::Union(i) => Some(i.ident.clone()),
        Item::Mod(i) => Some(i.ident.clone()),
        _ => None,
    }
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Struct(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

/// Where to point when the item is not a module: its leading keyword, roughly.
fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Struct(i) => i.struct_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::Fn(i) => i.sig.fn_token.span,
        Item::Impl(i) => i.impl_token.span,
        Item::Trait(i) => i.trait_token.span,
        other => other.span(),
    }
}

/// A struct marked `#[context]`.
fn parse_context(
    item: &ItemStruct,
    ctx: &Attribute,
    state_attr: Option<&Attribute>,
    ours: &[Attribute],
    errors: &Errors,
    context: &mut Vec<ast::Context>,
) {
    if let Some(state) = state_attr {
        errors.push_spanned(
            state.path().span(),
            format!("`{}` cannot be both the context and a state", item.ident),
        );
    }
    for attr in ours {
        if !attr.path().is_ident("context") && !attr.path().is_ident("state") {
            errors.push_spanned(
                attr.path().span(),
                format!(
                    "`#[{}]` belongs on a `#[state]` struct, not on the context",
                    path_text(attr.path())
                ),
            );
        }
    }
    let _ = reject_cfg(&item.attrs, "the context", errors);
    if !matches!(ctx.meta, Meta::Path(_)) {
        errors.push(syn::Error::new_spanned(
            &ctx.meta,
            "`#[context]` takes no arguments",
        ));
    }
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "a machine's context cannot be generic",
        ));
    }
    context.push(ast::Context {
        ident: item.ident.clone(),
        path: item.ident.clone().into(),
        attr: ctx.path().span(),
    });
}
