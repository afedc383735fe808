//! [`ast`](crate::ast) to [`model`](crate::model): the rules that need the whole graph.
//!
//! Each `check_*` function enforces one rule, stated in its first doc sentence. All of them run,
//! and every violation is reported, before generation is attempted.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;

use proc_macro2::Ident;
use quote::ToTokens;
use syn::{FnArg, Path, ReturnType, Signature, Type};

use crate::ast;
use crate::errors::Errors;
use crate::model;
use crate::parse::path_text;
use crate::suggest::with_suggestion;

/// Names of the methods every machine type has; transitions and roles may not take them.
pub(crate) const RESERVED: [&str; 9] = [
    "close",
    "handle",
    "context",
    "context_mut",
    "id",
    "name",
    "with_observer",
    "into_any",
    "clone",
];

/// Methods of std traits that machine types implement or are used through, with the trait
/// each belongs to: an inherent method of the same name would hide them.
pub(crate) const TRAIT_METHODS: [(&str, &str); 9] = [
    ("into", "Into::into"),
    ("from", "From::from"),
    ("try_into", "TryInto::try_into"),
    ("try_from", "TryFrom::try_from"),
    ("deref", "Deref::deref"),
    ("deref_mut", "DerefMut::deref_mut"),
    ("fmt", "Debug::fmt"),
    ("drop", "Drop::drop"),
    ("clone_from", "Clone::clone_from"),
];

/// Whether generated code gives the machine type a method or associated function `name` that
/// a transition or role of that name would clash with or hide.
pub(crate) fn is_taken(name: &Ident) -> bool {
    RESERVED.iter().any(|r| name == r) || TRAIT_METHODS.iter().any(|(m, _)| name == m)
}

pub(crate) fn machine(ast: &ast::Machine, errors: &Errors) -> Option<model::Machine> {
    let before = errors.len();
    let ty = ast
        .args
        .name
        .clone()
        .unwrap_or_else(|| Ident::new("Machine", ast.module.ident.span()));
    let any = ast
        .args
        .any
        .clone()
        .unwrap_or_else(|| Ident::new("AnyState", ast.module.ident.span()));

    check_has_states(ast, errors);
    check_unique_states(ast, errors);
    check_one_context(ast, errors);
    check_generated_names_free(ast, &ty, &any, errors);
    let transitions = check_transition_targets(ast, errors);
    check_unique_transitions(ast, errors);
    check_names_not_reserved(ast, errors);
    check_observed_names_free(ast, errors);
    check_transition_names_shadow_nothing(ast, &ty, &any, errors);
    let entrypoints = entrypoints(ast);
    check_unique_roles(ast, errors);
    check_hooks(ast, errors);
    // The graph-wide rules judge the graph as a whole; with any error so far the graph is not
    // the one the user meant (a dropped attribute, an unknown target, a duplicate state), and
    // judging it would blame other states for that one mistake.
    if errors.len() == 0 {
        check_has_entrypoint(ast, errors);
        check_reachable(ast, &entrypoints, &transitions, errors);
        check_can_close(ast, &transitions, errors);
    }

    if errors.len() != before {
        return None;
    }
    let param = state_param(ast, &ty, &any);
    Some(model::Machine {
        name: ast.module.ident.clone(),
        ty,
        any,
        param,
        module: ast.module.clone(),
        krate: ast.args.runtime(),
        context: ast.context.first().map(|c| c.path.clone()),
        states: ast
            .states
            .iter()
            .map(|s| model::State {
                ident: s.ident.clone(),
                doc: s.doc.clone(),
                exit: s.exit.clone(),
                close: s.close.clone(),
                transient: s.transient.is_some(),
            })
            .collect(),
        entrypoints,
        transitions,
    })
}

/// The name of the state parameter in generated impls: the first of `S`, `State` and `__S` that
/// names nothing those impls refer to (a state, a transition, the context, the module's items).
fn state_param(ast: &ast::Machine, ty: &Ident, any: &Ident) -> Ident {
    let taken = |name: &str| {
        ty == name
            || any == name
            || ast.item_idents.iter().any(|i| i == name)
            || ast
                .states
                .iter()
                .any(|s| s.ident == name || s.transitions.iter().any(|t| t.name == name))
            || ast
                .context
                .iter()
                .any(|c| first_segment(&c.path).is_some_and(|i| i == name))
    };
    let name = ["S", "State"]
        .into_iter()
        .find(|name| !taken(name))
        .unwrap_or("__S");
    Ident::new(name, ty.span())
}

fn state_index(ast: &ast::Machine, name: &Ident) -> Option<usize> {
    ast.states.iter().position(|s| s.ident == *name)
}

fn unknown_state(ast: &ast::Machine, name: &Ident) -> String {
    let names = ast
        .states
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>();
    let mut message = with_suggestion(
        format!("unknown state `{name}`"),
        &name.to_string(),
        names.iter().map(String::as_str),
    );
    if !message.contains("did you mean") {
        if names.is_empty() {
            message.push_str("; no struct in this module is marked `#[state]`");
        } else {
            let _ = write!(
                message,
                "; the states are {}",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    message
}

/// A machine declares at least one state.
fn check_has_states(ast: &ast::Machine, errors: &Errors) {
    if ast.states.is_empty() {
        errors.push_spanned(
            ast.module.ident.span(),
            format!(
                "machine `{}` declares no states; mark at least one struct with `#[state]`",
                ast.module.ident
            ),
        );
    }
}

/// Two states do not share a name.
fn check_unique_states(ast: &ast::Machine, errors: &Errors) {
    for (i, state) in ast.states.iter().enumerate() {
        if ast.states[..i].iter().any(|s| s.ident == state.ident) {
            errors.push_spanned(
                state.ident.span(),
                format!("duplicate state `{}`", state.ident),
            );
        }
    }
}

/// A machine has at most one context.
fn check_one_context(ast: &ast::Machine, errors: &Errors) {
    if let Some((first, rest)) = ast.context.split_first() {
        for extra in rest {
            errors.push_spanned(
                extra.attr,
                format!(
                    "duplicate context: `{}` is already this machine's context",
                    first.ident
                ),
            );
        }
    }
}

/// The module does not already define an item named like one the macro generates.
fn check_generated_names_free(ast: &ast::Machine, ty: &Ident, any: &Ident, errors: &Errors) {
    for (generated, arg) in [(ty, "name"), (any, "any")] {
        if let Some(clash) = ast.item_idents.iter().find(|i| *i == generated) {
            errors.push_spanned(
                clash.span(),
                format!(
                    "`{clash}` is generated by `#[machine]`; rename this item or choose another name with `#[machine({arg} = ...)]`"
                ),
            );
        }
    }
    if let Some(clash) = ast.item_idents.iter().find(|i| *i == "GRAPH") {
        errors.push_spanned(
            clash.span(),
            "`GRAPH` is generated by `#[machine]`; rename this item",
        );
    }
}

/// Every transition names a declared target state. Returns the transitions that resolve.
fn check_transition_targets(ast: &ast::Machine, errors: &Errors) -> Vec<model::Transition> {
    let mut resolved = Vec::new();
    for (from, state) in ast.states.iter().enumerate() {
        for t in &state.transitions {
            match state_index(ast, &t.target) {
                Some(to) => resolved.push(model::Transition {
                    name: t.name.clone(),
                    from,
                    to,
                }),
                None => errors.push_spanned(t.target.span(), unknown_state(ast, &t.target)),
            }
        }
    }
    resolved
}

/// A state does not declare two transitions with the same name.
fn check_unique_transitions(ast: &ast::Machine, errors: &Errors) {
    for state in &ast.states {
        for (i, t) in state.transitions.iter().enumerate() {
            if state.transitions[..i].iter().any(|p| p.name == t.name) {
                errors.push_spanned(
                    t.name.span(),
                    format!(
                        "duplicate transition `{}` from state `{}`",
                        t.name, state.ident
                    ),
                );
            }
        }
    }
}

/// Transition names and roles are not taken by the machine type's own methods or by the std
/// trait methods it is used through, and no role is also a transition name.
fn check_names_not_reserved(ast: &ast::Machine, errors: &Errors) {
    let transition_names: BTreeSet<String> = ast
        .states
        .iter()
        .flat_map(|s| s.transitions.iter().map(|t| t.name.to_string()))
        .collect();
    let reserved = |ident: &Ident, what: &str| {
        let name = ident.to_string();
        if RESERVED.contains(&name.as_str()) {
            errors.push_spanned(
                ident.span(),
                format!("`{name}` is a method of every machine type and cannot name {what}"),
            );
            true
        } else if let Some((_, method)) = TRAIT_METHODS.iter().find(|(m, _)| *m == name) {
            errors.push_spanned(
                ident.span(),
                format!(
                    "`{name}` cannot name {what}: it would hide `{method}` on the machine type"
                ),
            );
            true
        } else {
            false
        }
    };
    for state in &ast.states {
        for t in &state.transitions {
            reserved(&t.name, "a transition");
        }
        for role in &state.entries {
            let name = role.to_string();
            if !reserved(role, "an entrypoint") && transition_names.contains(&name) {
                errors.push_spanned(
                    role.span(),
                    format!("entrypoint `{name}` has the name of a transition; roles and transitions share the machine type's namespace"),
                );
            }
        }
    }
}

/// No transition or role is named like the observed constructor (`ROLE_observed`) of a role.
fn check_observed_names_free(ast: &ast::Machine, errors: &Errors) {
    let roles: Vec<&Ident> = ast.states.iter().flat_map(|s| &s.entries).collect();
    let observed_of = |name: &Ident| {
        roles
            .iter()
            .find(|role| *name == format!("{role}_observed"))
    };
    for state in &ast.states {
        for t in &state.transitions {
            if let Some(role) = observed_of(&t.name) {
                errors.push_spanned(
                    t.name.span(),
                    format!(
                        "transition `{}` has the name of the observed constructor of entrypoint `{role}`",
                        t.name
                    ),
                );
            }
        }
        for role in &state.entries {
            if let Some(other) = observed_of(role) {
                errors.push_spanned(
                    role.span(),
                    format!(
                        "entrypoint `{role}` has the name of the observed constructor of entrypoint `{other}`"
                    ),
                );
            }
        }
    }
}

fn first_segment(path: &Path) -> Option<&Ident> {
    path.segments.first().map(|s| &s.ident)
}

/// A transition name is not also the name of a type the generated code refers to: the machine
/// type, the all-states enum, a state, the context, or the first segment of the context, hook or
/// `crate` path. Generated code declares a type named after each transition (see the runtime's
/// `Edge`), which would hide that type from it.
fn check_transition_names_shadow_nothing(
    ast: &ast::Machine,
    ty: &Ident,
    any: &Ident,
    errors: &Errors,
) {
    let mut referred: Vec<(&Ident, &str)> =
        vec![(ty, "the machine type"), (any, "the all-states enum")];
    referred.extend(ast.states.iter().map(|s| (&s.ident, "a state")));
    for context in &ast.context {
        referred.extend(first_segment(&context.path).map(|i| (i, "the context")));
    }
    if let Some(krate) = ast.args.krate.as_ref().and_then(first_segment) {
        referred.push((krate, "the start of the `crate` path"));
    }
    for state in &ast.states {
        for hook in [&state.exit, &state.close].into_iter().flatten() {
            if hook.segments.len() > 1 {
                referred.extend(first_segment(hook).map(|i| (i, "the start of a hook's path")));
            }
        }
    }
    for state in &ast.states {
        for t in &state.transitions {
            if let Some((_, what)) = referred.iter().find(|(i, _)| **i == t.name) {
                errors.push_spanned(
                    t.name.span(),
                    format!(
                        "transition `{}` has the name of {what}; rename one of them",
                        t.name
                    ),
                );
            }
        }
    }
}

/// The entrypoints in declaration order. An entrypoint sits on the state it enters, so it always
/// names a declared state.
fn entrypoints(ast: &ast::Machine) -> Vec<model::Entrypoint> {
    ast.states
        .iter()
        .enumerate()
        .flat_map(|(state, s)| {
            s.entries.iter().map(move |role| model::Entrypoint {
                role: role.clone(),
                state,
            })
        })
        .collect()
}

/// Two entrypoints do not share a role.
fn check_unique_roles(ast: &ast::Machine, errors: &Errors) {
    let mut seen: Vec<(&Ident, &Ident)> = Vec::new();
    for state in &ast.states {
        for role in &state.entries {
            if let Some((_, prev)) = seen.iter().find(|(r, _)| *r == role) {
                errors.push_spanned(
                    role.span(),
                    format!("duplicate entrypoint `{role}`: it already enters `{prev}`"),
                );
            } else {
                seen.push((role, &state.ident));
            }
        }
    }
}

/// A machine has at least one entrypoint.
fn check_has_entrypoint(ast: &ast::Machine, errors: &Errors) {
    if !ast.states.is_empty() && ast.states.iter().all(|s| s.entries.is_empty()) {
        errors.push_spanned(
            ast.module.ident.span(),
            format!(
                "machine `{}` has no entrypoint; add `#[entry(role)]` to the state it starts in",
                ast.module.ident
            ),
        );
    }
}

/// Every state is reachable from some entrypoint.
fn check_reachable(
    ast: &ast::Machine,
    entrypoints: &[model::Entrypoint],
    transitions: &[model::Transition],
    errors: &Errors,
) {
    if entrypoints.is_empty() {
        return; // reported by `check_has_entrypoint`
    }
    let mut seen = vec![false; ast.states.len()];
    let mut queue: VecDeque<usize> = entrypoints.iter().map(|e| e.state).collect();
    while let Some(s) = queue.pop_front() {
        if std::mem::replace(&mut seen[s], true) {
            continue;
        }
        queue.extend(transitions.iter().filter(|t| t.from == s).map(|t| t.to));
    }
    for (state, reached) in ast.states.iter().zip(seen) {
        if !reached {
            errors.push_spanned(
                state.ident.span(),
                format!(
                    "state `{}` is unreachable: no entrypoint leads to it; add `#[entry(role)]` to it or a `#[transition(name -> {})]` to a reachable state",
                    state.ident, state.ident
                ),
            );
        }
    }
}

/// From every state the machine can still be closed: a `transient` state (one without a
/// `close` method) must lead, through transitions, to a state that is not transient.
///
/// Every other state can always close (`close()` or dropping the value), so transient states are
/// the only way to build a state the machine can never be closed from.
fn check_can_close(ast: &ast::Machine, transitions: &[model::Transition], errors: &Errors) {
    let mut can_close: Vec<bool> = ast.states.iter().map(|s| s.transient.is_none()).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for t in transitions {
            if !can_close[t.from] && can_close[t.to] {
                can_close[t.from] = true;
                changed = true;
            }
        }
    }
    // States that cannot close form closed groups of transient states; the first is reported,
    // and fixing it (or its group) is the fix for all.
    if let Some((state, _)) = ast
        .states
        .iter()
        .zip(can_close)
        .find(|(_, closable)| !closable)
    {
        let span = state.transient.unwrap_or_else(|| state.ident.span());
        errors.push_spanned(
            span,
            format!(
                "the machine can never be closed from state `{}`: it is transient and every state it leads to is transient too; make one of them closable or add a transition to a closable state",
                state.ident
            ),
        );
    }
}

/// A hook names a function of the right shape: `fn(&mut State, &mut Context)` for `exit`,
/// `fn(State, &mut Context)` for `close` (without the context argument when the machine has
/// none). Hooks given by a single name must be functions of the annotated module; longer paths
/// are checked by the compiler where they are called.
fn check_hooks(ast: &ast::Machine, errors: &Errors) {
    let context = ast.context.first().map(|c| &c.ident);
    for state in &ast.states {
        for (kind, hook) in [("exit", &state.exit), ("close", &state.close)] {
            let Some(path) = hook else { continue };
            let Some(ident) = path.get_ident() else {
                continue;
            };
            let Some(sig) = ast.fns.iter().find(|f| f.ident == *ident) else {
                let names = ast
                    .fns
                    .iter()
                    .map(|f| f.ident.to_string())
                    .collect::<Vec<_>>();
                errors.push_spanned(
                    ident.span(),
                    with_suggestion(
                        format!(
                            "cannot find function `{ident}` for the {kind} hook of `{}` in this module",
                            state.ident
                        ),
                        &ident.to_string(),
                        names.iter().map(String::as_str),
                    ),
                );
                continue;
            };
            check_hook_signature(kind, &state.ident, context, path, sig, errors);
        }
    }
}

fn check_hook_signature(
    kind: &str,
    state: &Ident,
    context: Option<&Ident>,
    path: &Path,
    sig: &Signature,
    errors: &Errors,
) {
    let by_ref = kind == "exit";
    let state_param = if by_ref {
        format!("&mut {state}")
    } else {
        state.to_string()
    };
    let expected = match context {
        Some(c) => format!("fn({state_param}, &mut {c})"),
        None => format!("fn({state_param})"),
    };
    let wrong = |tokens: &dyn ToTokens, what: &str| {
        errors.push(syn::Error::new_spanned(
            tokens,
            format!(
                "{kind} hook `{}` of `{state}` {what}; expected `{expected}`",
                path_text(path)
            ),
        ));
    };
    if let Some(asyncness) = &sig.asyncness {
        return wrong(asyncness, "cannot be `async`");
    }
    if !sig.generics.params.is_empty() {
        return wrong(&sig.generics, "cannot be generic");
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && !is_unit(ty)
    {
        return wrong(ty, "must not return a value");
    }
    let want = 1 + usize::from(context.is_some());
    if sig.inputs.len() != want {
        let what = format!(
            "takes {} argument{}",
            sig.inputs.len(),
            if sig.inputs.len() == 1 { "" } else { "s" }
        );
        if sig.inputs.is_empty() {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!(
                    "{kind} hook `{}` of `{state}` {what}; expected `{expected}`",
                    path_text(path)
                ),
            ));
            return;
        }
        return wrong(&sig.inputs, &what);
    }
    let mut args = sig.inputs.iter();
    if let Some(first) = args.next() {
        match arg_type(first) {
            Some(ty) if names_type(ty, state, by_ref) => {}
            Some(ty) => {
                let found = ty.to_token_stream().to_string().replace("& mut ", "&mut ");
                wrong(ty, &format!("takes `{found}` as the state"));
            }
            None => wrong(first, "cannot take `self`"),
        }
    }
    if let (Some(second), Some(c)) = (args.next(), context)
        && let Some(ty) = arg_type(second)
        && !names_type(ty, c, true)
    {
        let found = ty.to_token_stream().to_string().replace("& mut ", "&mut ");
        wrong(ty, &format!("takes `{found}` as the context"));
    }
}

fn arg_type(arg: &FnArg) -> Option<&Type> {
    match arg {
        FnArg::Typed(pat) => Some(&pat.ty),
        FnArg::Receiver(_) => None,
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

/// Whether `ty` is `name` (or `&mut name` when `by_mut_ref`), comparing the last path segment
/// only: `Self`-free paths like `super::Closed` are accepted, type aliases are left to rustc.
fn names_type(ty: &Type, name: &Ident, by_mut_ref: bool) -> bool {
    let ty = match (ty, by_mut_ref) {
        (Type::Reference(r), true) if r.mutability.is_some() => &*r.elem,
        (_, true) | (Type::Reference(_), false) => return false,
        (ty, false) => ty,
    };
    match ty {
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == *name)
        }
        Type::Paren(p) => names_type(&p.elem, name, false),
        _ => false,
    }
}
