//! [`model`](crate::model) to tokens. Cannot fail: every rule was checked before.
//!
//! The output grows with the graph, not with its square: per state its `State` impl, its `From`
//! conversion and its variant; per transition name one method, generic over the state and
//! bounded on the runtime's `Edge` trait; per edge one `Edge` impl; one `TryFrom` impl for all
//! states. A state without an edge misses that impl, so calling the method on it fails with
//! `Edge`'s message (see the runtime's `state` module).
//!
//! What rustc compiles matters as much as how much there is: every function body costs its
//! checks and its MIR, so bodies are few and short, and the work of a transition is done in the
//! runtime's generic functions, which are checked once there. Functions that are not generic
//! are `#[inline]`, so that they are compiled where they are used, not whether or not they are.

use std::fmt::Write as _;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Item, Path};

use crate::ast;
use crate::model::{Machine, Transition};
use crate::parse::path_text;

/// Where generated code reaches the runtime: `::statebound` unless the machine says
/// `crate = ..`. Every path into the runtime is rendered here, so that it is absolute (or the
/// user's own) and the user's scope is never touched.
struct Runtime {
    krate: Path,
}

impl Runtime {
    /// The runtime crate, for its public items.
    fn root(&self) -> TokenStream {
        let krate = &self.krate;
        quote!(#krate)
    }

    /// The runtime's `__private` module, for what only generated code uses.
    fn private(&self) -> TokenStream {
        let krate = &self.krate;
        quote!(#krate::__private)
    }

    /// The alias for [`Runtime::private`] inside the generated `const _` block.
    fn alias(&self) -> TokenStream {
        let private = self.private();
        quote!(use #private as __sb;)
    }
}

/// The lint policy of every generated item: generated code is not the user's to tidy, and
/// the user's own lint levels must not turn it into errors.
fn allowed_lints() -> TokenStream {
    quote! {
        #[allow(
            unreachable_pub,
            private_interfaces,
            private_bounds,
            non_camel_case_types,
            unused_qualifications,
            unreachable_patterns,
            clippy::all,
            clippy::pedantic,
            clippy::nursery,
            clippy::restriction
        )]
    }
}

/// The whole annotated module with the generated items appended.
pub(crate) fn machine(m: &Machine) -> TokenStream {
    let lints = allowed_lints();
    let param = &m.param;
    let rt = Runtime {
        krate: m.krate.clone(),
    };
    let private = rt.private();
    let alias = rt.alias();
    let ty = &m.ty;
    let any = &m.any;
    let ctx = context_type(m);

    let machine_doc = machine_doc(m);
    let any_doc = format!(
        "Whichever state a `{}` machine is in, for code that stores machines whose state varies \
         (see [`Slot`]({root}::Slot) to advance one in place).",
        m.name,
        root = path_text(&m.krate)
    );
    let graph = graph_const(m, &rt);
    let any_variants = m.states.iter().map(|s| {
        let ident = &s.ident;
        let doc = format!("In state `{ident}`.");
        quote!(#[doc = #doc] #ident(#ty<#ident>),)
    });
    let names = m.transition_names();
    let markers = names.iter().map(|(name, _)| quote!(pub enum #name {}));
    let transitions = names.iter().map(|(name, edges)| transition(m, name, edges));
    let states = (0..m.states.len()).map(|i| state_items(m, i));
    let common = common_methods(m);
    let any_impl = any_impl(m);
    let try_from = try_from(m);
    // Where a transition name that leads to several states does lead from a state; other names
    // name their target.
    let to_alias = names
        .iter()
        .any(|(_, edges)| edges.iter().any(|t| t.to != edges[0].to))
        .then(|| {
            quote! {
                type __To<#param, __N, __F, __T> =
                    __sb::To<#ty<#param>, __N, #param, __F, __T, __L<#param>>;
            }
        });

    let generated = quote! {
        #[doc = #machine_doc]
        #lints
        pub struct #ty<#param> {
            __live: #private::Live<#param, #ctx>,
        }

        #[doc = #any_doc]
        #lints
        pub enum #any {
            #(#any_variants)*
        }

        #graph

        #lints
        const _: () = {
            #alias

            type __L<#param> = <#param as __sb::State<#ctx>>::Transitions;
            #to_alias

            #(#markers)*

            #try_from

            #common

            #(#states)*

            #(#transitions)*

            #any_impl
        };
    };
    wrap_module(&m.module, &state_docs(m), &generated)
}

fn context_type(m: &Machine) -> TokenStream {
    match &m.context {
        Some(path) => quote!(#path),
        None => quote!(()),
    }
}

fn ticked(ident: &Ident) -> String {
    format!("`{ident}`")
}

/// The machine type's docs: how it is used, and the graph as a table.
fn machine_doc(m: &Machine) -> String {
    let ty = &m.ty;
    let entries: Vec<String> = m
        .entrypoints
        .iter()
        .map(|e| format!("`{ty}::{}`", e.role))
        .collect();
    let mut doc = format!(
        "A `{}` machine, in the state its type parameter names.\n\n\
         Start one with an entrypoint constructor ({}); move it with the transition methods of \
         its state; end it with `close` or by dropping it. Each state runs its exit hook once \
         when a transition leaves it and its close hook once when the machine ends in it. A \
         machine cannot be cloned: it is one live instance.\n\n\
         | state | entered by | left by | closes |\n|---|---|---|---|\n",
        m.name,
        entries.join(", ")
    );
    for (index, state) in m.states.iter().enumerate() {
        let entered: Vec<String> = m
            .entrypoints
            .iter()
            .filter(|e| e.state == index)
            .map(|e| ticked(&e.role))
            .collect();
        let left: Vec<String> = m
            .transitions_from(index)
            .map(|t| format!("`{}` to `{}`", t.name, m.states[t.to].ident))
            .collect();
        let closes = match (&state.close, state.transient) {
            (_, true) => "no (transient)".to_owned(),
            (Some(hook), false) => format!("yes, runs `{}`", path_text(hook)),
            (None, false) => "yes".to_owned(),
        };
        let _ = writeln!(
            doc,
            "| `{}` | {} | {} | {closes} |",
            state.ident,
            dash_if_empty(&entered),
            dash_if_empty(&left)
        );
    }
    doc
}

fn dash_if_empty(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// Per state, a paragraph for its struct's docs saying how the state is left.
fn state_docs(m: &Machine) -> Vec<(Ident, String)> {
    let ty = &m.ty;
    m.states
        .iter()
        .enumerate()
        .map(|(index, state)| {
            let left: Vec<String> = m
                .transitions_from(index)
                .map(|t| {
                    format!(
                        "[`{name}`]({ty}::{name}) (to `{to}`)",
                        name = t.name,
                        to = m.states[t.to].ident
                    )
                })
                .collect();
            let mut doc = format!("A state of [`{ty}`]");
            if left.is_empty() {
                doc.push_str(", with no transitions");
            } else {
                doc.push_str(": left by ");
                doc.push_str(&left.join(", "));
            }
            if state.transient {
                doc.push_str("; transient: it cannot be closed, only left.");
            } else {
                let _ = write!(
                    doc,
                    "; or closed with [`close`]({ty}::close) or by dropping the machine."
                );
            }
            (state.ident.clone(), doc)
        })
        .collect()
}

/// Methods every machine type has whatever its state, and its std trait impls.
fn common_methods(m: &Machine) -> TokenStream {
    let ty = &m.ty;
    let param = &m.param;
    let any = &m.any;
    let ctx = context_type(m);
    let into_any_doc = format!("Wraps this machine in [`{any}`].");
    let close_doc = "Closes the machine: runs the state's close hook, then returns the context. \
         Dropping the machine closes it the same way; transient states have no `close`.";
    quote! {
        impl<#param> #ty<#param> {
            /// A handle on the current state: it fails once the machine leaves this state.
            pub fn handle(&self) -> __sb::Handle {
                self.__live.core.handle()
            }

            /// The context carried across transitions.
            pub fn context(&self) -> &#ctx {
                self.__live.core.context()
            }

            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut #ctx {
                self.__live.core.context_mut()
            }

            /// The id of this machine instance, the same in every state it passes through.
            pub fn id(&self) -> __sb::MachineId {
                self.__live.core.id()
            }

            /// The name of the current state.
            pub fn name(&self) -> &'static str {
                self.__live.core.name()
            }

            /// Installs an observer that sees every later transition and the close.
            #[must_use]
            pub fn with_observer(mut self, observer: __sb::Arc<dyn __sb::Observer>) -> Self {
                self.__live.core.set_observer(observer);
                self
            }

            #[doc = #into_any_doc]
            pub fn into_any(self) -> #any
            where
                #any: ::core::convert::From<Self>,
            {
                ::core::convert::From::from(self)
            }

            /// Refuses to compile: a machine is one live instance, so it cannot be cloned.
            #[doc(hidden)]
            pub fn clone(&self) -> Self
            where
                Self: __sb::CloneMachine<#param>,
            {
                __sb::CloneMachine::clone_machine(self)
            }
        }

        impl<#param: __sb::State<#ctx>> #ty<#param>
        where
            Self: __sb::Close<#param, __L<#param>>,
        {
            #[doc = #close_doc]
            pub fn close(self) -> #ctx {
                self.__live.close()
            }
        }

        impl<#param> ::core::ops::Deref for #ty<#param> {
            type Target = #param;
            fn deref(&self) -> &#param {
                self.__live.state()
            }
        }

        impl<#param> ::core::ops::DerefMut for #ty<#param> {
            fn deref_mut(&mut self) -> &mut #param {
                self.__live.state_mut()
            }
        }

        impl<#param: ::core::fmt::Debug> ::core::fmt::Debug for #ty<#param> {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(self.__live.core.name())
                    .field("id", &self.__live.core.id())
                    .field("state", self.__live.state())
                    .finish()
            }
        }
    }
}

/// The transition names of state `index`, as the type its `State` impl lists them with.
fn listing(m: &Machine, index: usize) -> TokenStream {
    let names: Vec<&Ident> = m.transitions_from(index).map(|t| &t.name).collect();
    match names.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        many => quote!((#(#many),*)),
    }
}

/// Everything specific to one state: its `State` impl (names, hooks), whether it may close,
/// its conversions to and from the all-states enum, and its entrypoint constructors.
fn state_items(m: &Machine, index: usize) -> TokenStream {
    let ty = &m.ty;
    let any = &m.any;
    let ctx = context_type(m);
    let state = &m.states[index];
    let ident = &state.ident;
    let name = ident.to_string();
    let transitions = listing(m, index);
    let has_ctx = m.context.is_some();
    let exit = state.exit.as_ref().map(|path| {
        let call = hook_call(path, has_ctx);
        quote! {
            const EXIT: ::core::option::Option<fn(&mut Self, &mut #ctx)> =
                ::core::option::Option::Some(|__state, __context| #call);
        }
    });
    let close = state.close.as_ref().map(|path| {
        let call = hook_call(path, has_ctx);
        quote! {
            const CLOSE: ::core::option::Option<fn(Self, &mut #ctx)> =
                ::core::option::Option::Some(|__state, __context| #call);
        }
    });
    let closable = (!state.transient)
        .then(|| quote!(impl __sb::Close<#ident, __L<#ident>> for #ty<#ident> {}));
    let entries = entry_constructors(m, index);
    quote! {
        impl __sb::State<#ctx> for #ident {
            type Transitions = #transitions;
            const NAME: &'static str = #name;
            #exit
            #close
        }

        #closable

        impl ::core::convert::From<#ty<#ident>> for #any {
            #[inline]
            fn from(__machine: #ty<#ident>) -> Self {
                #any::#ident(__machine)
            }
        }

        #entries
    }
}

/// The call of the user's hook from the closure a `State` impl holds it in, spanned at the
/// hook's path so that a type mismatch points there.
fn hook_call(path: &Path, has_ctx: bool) -> TokenStream {
    if has_ctx {
        quote_spanned!(path.span()=> #path(__state, __context))
    } else {
        quote_spanned!(path.span()=> { let _ = __context; #path(__state) })
    }
}

/// The constructors of the entrypoints that start in state `index`.
fn entry_constructors(m: &Machine, index: usize) -> TokenStream {
    let ty = &m.ty;
    let ctx = context_type(m);
    let ident = &m.states[index].ident;
    let machine = m.name.to_string();
    let state_name = ident.to_string();
    let constructors = m.entrypoints.iter().filter(|e| e.state == index).map(|e| {
        let role = &e.role;
        let observed = format_ident!("{}_observed", role);
        let role_name = role.to_string();
        let doc =
            format!("Starts a `{machine}` machine in `{ident}` through the `{role}` entrypoint.");
        let observed_doc = format!(
            "Like [`Self::{role}`], with an observer that sees this entry and every later step."
        );
        let (params, ctx_arg) = if m.context.is_some() {
            (quote!(context: #ctx, state: #ident), quote!(context))
        } else {
            (quote!(state: #ident), quote!(()))
        };
        let args = quote! {
            #machine, #role_name, #state_name, #ctx_arg, state, <#ident as __sb::State<#ctx>>::CLOSE
        };
        quote! {
            #[doc = #doc]
            #[inline]
            pub fn #role(#params) -> Self {
                #ty { __live: __sb::Live::enter(#args, ::core::option::Option::None) }
            }

            #[doc = #observed_doc]
            #[inline]
            pub fn #observed(#params, observer: __sb::Arc<dyn __sb::Observer>) -> Self {
                #ty { __live: __sb::Live::enter(#args, ::core::option::Option::Some(observer)) }
            }
        }
    });
    let constructors: Vec<TokenStream> = constructors.collect();
    if constructors.is_empty() {
        return TokenStream::new();
    }
    quote! {
        impl #ty<#ident> {
            #(#constructors)*
        }
    }
}

/// The method of transition `name`, on every state the `Edge` impls (one per edge) allow.
fn transition(m: &Machine, name: &Ident, edges: &[&Transition]) -> TokenStream {
    let ty = &m.ty;
    let param = &m.param;
    let ctx = context_type(m);
    let name_str = name.to_string();
    // The states `name` leaves from and leads to, for the error message and for privacy (see
    // the runtime's `state` module). With several, an alias keeps each edge's impl from
    // repeating the whole list.
    let sources: Vec<&Ident> = edges.iter().map(|t| &m.states[t.from].ident).collect();
    let mut targets: Vec<&Ident> = Vec::new();
    for t in edges {
        let target = &m.states[t.to].ident;
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    let (from_alias, from) = state_list(&format_ident!("__from_{}", name), &sources);
    let (to_alias, to) = state_list(&format_ident!("__to_{}", name), &targets);
    let moves: Vec<String> = edges
        .iter()
        .map(|t| {
            format!(
                "from `{}` to `{}`",
                m.states[t.from].ident, m.states[t.to].ident
            )
        })
        .collect();
    let doc = format!(
        "Takes the transition `{name}`: {}. `build` makes the new state's data from this one's, \
         after the exit hook ran; the context moves across unchanged.",
        moves.join(", ")
    );
    let impls = edges.iter().map(|t| {
        let source = &m.states[t.from].ident;
        let target = &m.states[t.to].ident;
        let listing = listing(m, t.from);
        quote! {
            impl __sb::Edge<#name, #source, #from, #to, #listing> for #ty<#source> {
                type To = #target;
            }
        }
    });
    // With one target, the method names it; with several, the edge's `To` says which.
    let (bounds, target) = match targets.as_slice() {
        [one] => (quote!(), quote!(#one)),
        _ => {
            let target = quote!(__To<#param, #name, #from, #to>);
            (quote!(#target: __sb::State<#ctx>,), target)
        }
    };
    quote! {
        #from_alias
        #to_alias

        impl<#param: __sb::State<#ctx>> #ty<#param>
        where
            Self: __sb::Edge<#name, #param, #from, #to, __L<#param>>,
            #bounds
        {
            #[doc = #doc]
            pub fn #name(
                self,
                build: impl ::core::ops::FnOnce(#param) -> #target,
            ) -> #ty<#target> {
                #ty { __live: self.__live.transition(#name_str, build) }
            }
        }

        #(#impls)*
    }
}

/// A list of states as one type: the state itself, or a tuple behind the alias `alias` (whose
/// declaration is returned too).
fn state_list(alias: &Ident, states: &[&Ident]) -> (TokenStream, TokenStream) {
    match states {
        [one] => (TokenStream::new(), quote!(#one)),
        many => (quote!(type #alias = (#(#many),*);), quote!(#alias)),
    }
}

/// `TryFrom` the all-states enum, for every state at once: one match over the variants moves
/// the machine into a slot of the type asked for when it is that type (`put` compares the types)
/// and gives the enum back otherwise. One impl and one match in all, where an impl per state
/// would be a match over every variant per state.
fn try_from(m: &Machine) -> TokenStream {
    let ty = &m.ty;
    let any = &m.any;
    let param = &m.param;
    let ctx = context_type(m);
    let idents: Vec<&Ident> = m.states.iter().map(|s| &s.ident).collect();
    quote! {
        #[inline]
        fn __into_slot(
            __any: #any,
            __slot: &mut dyn ::core::any::Any,
        ) -> ::core::option::Option<#any> {
            match __any { #(#any::#idents(__m) => __sb::put(__slot, __m, #any::#idents),)* }
        }

        impl<#param: __sb::State<#ctx> + 'static> ::core::convert::TryFrom<#any> for #ty<#param> {
            type Error = #any;
            #[inline]
            fn try_from(__any: #any) -> ::core::result::Result<Self, #any> {
                __sb::take(__any, __into_slot)
            }
        }
    }
}

fn any_impl(m: &Machine) -> TokenStream {
    let any = &m.any;
    let any_name = any.to_string();
    let ctx = context_type(m);
    let idents: Vec<&Ident> = m.states.iter().map(|s| &s.ident).collect();
    quote! {
        impl __sb::AnyMachine<#ctx> for #any {
            #[inline]
            fn __core(&self) -> &__sb::Core<#ctx> {
                match self { #(#any::#idents(__m) => &__m.__live.core,)* }
            }

            #[inline]
            fn __core_mut(&mut self) -> &mut __sb::Core<#ctx> {
                match self { #(#any::#idents(__m) => &mut __m.__live.core,)* }
            }

            #[inline]
            fn __close(self) -> #ctx {
                match self { #(#any::#idents(__m) => __m.__live.close(),)* }
            }
        }

        impl #any {
            /// The name of the current state.
            #[inline]
            pub fn name(&self) -> &'static str {
                __sb::AnyMachine::__core(self).name()
            }

            /// The id of the machine instance.
            #[inline]
            pub fn id(&self) -> __sb::MachineId {
                __sb::AnyMachine::__core(self).id()
            }

            /// A handle on the current state.
            #[inline]
            pub fn handle(&self) -> __sb::Handle {
                __sb::AnyMachine::__core(self).handle()
            }

            /// Whether `handle` was minted by the current state (not by a state the machine has
            /// left, nor by another machine).
            #[inline]
            pub fn is_current(&self, handle: &__sb::Handle) -> bool {
                __sb::AnyMachine::__core(self).owns(handle)
            }

            /// The context carried across transitions.
            #[inline]
            pub fn context(&self) -> &#ctx {
                __sb::AnyMachine::__core(self).context()
            }

            /// The context carried across transitions, mutably.
            #[inline]
            pub fn context_mut(&mut self) -> &mut #ctx {
                __sb::AnyMachine::__core_mut(self).context_mut()
            }

            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            #[inline]
            pub fn close(self) -> #ctx {
                __sb::AnyMachine::__close(self)
            }
        }

        impl ::core::fmt::Debug for #any {
            #[inline]
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(#any_name)
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    }
}

fn graph_const(m: &Machine, rt: &Runtime) -> TokenStream {
    let root = rt.root();
    let private = rt.private();
    let lints = allowed_lints();
    let name = m.name.to_string();
    let hook = |h: &Option<Path>| h.as_ref().map(path_text).unwrap_or_default();
    let states = m.states.iter().map(|s| {
        let n = s.ident.to_string();
        let doc = &s.doc;
        let exit = hook(&s.exit);
        let close = hook(&s.close);
        let transient = s.transient;
        quote!(#private::state_info(#n, #doc, #exit, #close, #transient))
    });
    let entries = m.entrypoints.iter().map(|e| {
        let role = e.role.to_string();
        let state = m.states[e.state].ident.to_string();
        quote!(#private::entrypoint(#role, #state))
    });
    let transitions = m.transitions.iter().map(|t| {
        let n = t.name.to_string();
        let from = m.states[t.from].ident.to_string();
        let to = m.states[t.to].ident.to_string();
        quote!(#private::edge(#n, #from, #to))
    });
    let doc = format!(
        "The declared graph of the `{name}` machine. Render it with \
         [`Graph::to_mermaid`]({rt_path}::Graph::to_mermaid) or [`Graph::to_dot`]({rt_path}::Graph::to_dot).",
        rt_path = path_text(&m.krate)
    );
    quote! {
        #[doc = #doc]
        #lints
        pub const GRAPH: #root::Graph = #root::Graph {
            name: #name,
            states: &[#(#states),*],
            entrypoints: &[#(#entries),*],
            transitions: &[#(#transitions),*],
        };
    }
}

/// The module as written with `extra` appended to its items and each `(struct, paragraph)` of
/// `docs` appended to that struct's docs.
fn wrap_module(
    module: &syn::ItemMod,
    docs: &[(Ident, String)],
    extra: &TokenStream,
) -> TokenStream {
    let (inner, attrs): (Vec<&syn::Attribute>, Vec<&syn::Attribute>) = module
        .attrs
        .iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let vis = &module.vis;
    let unsafety = &module.unsafety;
    let ident = &module.ident;
    let items = module.content.as_ref().map_or(&[][..], |(_, items)| items);
    let items = items.iter().map(|item| match item {
        Item::Struct(s) => match docs.iter().find(|(name, _)| *name == s.ident) {
            Some((_, doc)) => {
                let mut s = s.clone();
                let separator = s.attrs.iter().any(|a| a.path().is_ident("doc"));
                if separator {
                    s.attrs.push(syn::parse_quote!(#[doc = ""]));
                }
                s.attrs.push(syn::parse_quote!(#[doc = #doc]));
                quote!(#s)
            }
            None => quote!(#item),
        },
        other => quote!(#other),
    });
    quote! {
        #(#attrs)*
        #vis #unsafety mod #ident {
            #(#inner)*
            #(#items)*
            #extra
        }
    }
}

/// What is emitted beside errors: the module with its own items (later duplicates of a state
/// left out), the machine type and enum unless the module defines those names itself, and
/// stubs of the methods the declaration promises, so that code using the machine adds no errors
/// of its own. States the skeleton cannot name (generic, or gated by `cfg`) are left out of the
/// stubs, and their own error says what is wrong; no stub is declared twice. The stubs have no
/// bodies worth running: the crate does not compile anyway.
pub(crate) fn skeleton(ast: &ast::Machine) -> TokenStream {
    let lints = allowed_lints();
    let rt = Runtime {
        krate: ast.args.runtime(),
    };
    let root = rt.root();
    let private = rt.private();
    let span = Span::call_site();
    let ty = ast
        .args
        .name
        .clone()
        .unwrap_or_else(|| Ident::new("Machine", span));
    let any = ast
        .args
        .any
        .clone()
        .unwrap_or_else(|| Ident::new("AnyState", span));
    let defined = |name: &Ident| ast.item_idents.iter().any(|i| i == name);

    let mut module = ast.module.clone();
    if let Some((_, items)) = module.content.as_mut() {
        let mut seen: Vec<Ident> = Vec::new();
        items.retain(|item| match item {
            Item::Struct(s) if seen.contains(&s.ident) => false,
            Item::Struct(s) => {
                seen.push(s.ident.clone());
                true
            }
            _ => true,
        });
    }

    let mut states: Vec<&ast::State> = Vec::new();
    for state in ast.states.iter().filter(|s| !s.unnameable) {
        if !states.iter().any(|s| s.ident == state.ident) {
            states.push(state);
        }
    }
    let ctx = match ast.context.as_slice() {
        [one] => {
            let path = &one.path;
            quote!(#path)
        }
        _ => quote!(()),
    };
    let stub_impls = state_stubs(ast, &rt, &states, &ctx, &ty);

    let machine = (!defined(&ty)).then(|| {
        quote! {
            #[doc(hidden)]
            #lints
            pub struct #ty<__S>(::core::marker::PhantomData<__S>);

            #[doc(hidden)]
            #lints
            impl<__S> #ty<__S> {
                pub fn handle(&self) -> #root::Handle { ::core::unreachable!() }
                pub fn context(&self) -> &#ctx { ::core::unreachable!() }
                pub fn context_mut(&mut self) -> &mut #ctx { ::core::unreachable!() }
                pub fn id(&self) -> #root::MachineId { ::core::unreachable!() }
                pub fn name(&self) -> &'static str { ::core::unreachable!() }
                pub fn close(self) -> #ctx { ::core::unreachable!() }
                pub fn into_any(self) -> #any { ::core::unreachable!() }
                pub fn with_observer(self, _observer: #private::Arc<dyn #root::Observer>) -> Self {
                    ::core::unreachable!()
                }
            }

            #(#stub_impls)*
        }
    });
    // Variants only where the machine type is ours: a user type of that name takes no state.
    let variants = states.iter().filter(|_| !defined(&ty)).map(|s| {
        let ident = &s.ident;
        quote!(#ident(#ty<#ident>),)
    });
    let any_enum = (!defined(&any)).then(|| {
        quote! {
            #[doc(hidden)]
            #lints
            pub enum #any {
                #(#variants)*
                __Skeleton,
            }
        }
    });
    let graph = (!ast.item_idents.iter().any(|i| i == "GRAPH")).then(|| {
        let name = ast.module.ident.to_string();
        quote! {
            #[doc(hidden)]
            pub const GRAPH: #root::Graph = #root::Graph { name: #name, states: &[], entrypoints: &[], transitions: &[] };
        }
    });
    let extra = quote! {
        #machine
        #any_enum
        #graph
    };
    wrap_module(&module, &[], &extra)
}

/// Skeleton stubs of the entrypoints and transitions each state declares.
fn state_stubs(
    ast: &ast::Machine,
    rt: &Runtime,
    states: &[&ast::State],
    ctx: &TokenStream,
    ty: &Ident,
) -> Vec<TokenStream> {
    let lints = allowed_lints();
    let root = rt.root();
    let private = rt.private();
    states.iter().map(|state| {
        let ident = &state.ident;
        // Names already declared on this state's impl: a stub declared twice would be an error
        // of the skeleton's own.
        let mut names: Vec<Ident> = Vec::new();
        let params = match ast.context.as_slice() {
            [] => quote!(_state: #ident),
            _ => quote!(_context: #ctx, _state: #ident),
        };
        let mut roles = Vec::new();
        for role in &state.entries {
            let observed = format_ident!("{}_observed", role);
            if crate::check::is_taken(role) || names.contains(role) || names.contains(&observed) {
                continue;
            }
            names.push(role.clone());
            names.push(observed.clone());
            roles.push(quote! {
                pub fn #role(#params) -> Self { ::core::unreachable!() }
                pub fn #observed(#params, _observer: #private::Arc<dyn #root::Observer>) -> Self {
                    ::core::unreachable!()
                }
            });
        }
        let transitions = state.transitions.iter().filter_map(|t| {
            let name = &t.name;
            let taken = names.contains(name)
                || crate::check::is_taken(name)
                || ast.states.iter().any(|s| s.entries.contains(name));
            if taken {
                return None;
            }
            names.push(name.clone());
            Some(match states.iter().find(|s| s.ident == t.target) {
                Some(target) => {
                    let target = &target.ident;
                    quote! {
                        pub fn #name(self, _build: impl ::core::ops::FnOnce(#ident) -> #target) -> #ty<#target> {
                            ::core::unreachable!()
                        }
                    }
                }
                None => quote! {
                    pub fn #name<__T>(self, _build: impl ::core::ops::FnOnce(#ident) -> __T) -> #ty<__T> {
                        ::core::unreachable!()
                    }
                },
            })
        });
        quote! {
            #[doc(hidden)]
            #lints
            impl #ty<#ident> {
                #(#roles)*
                #(#transitions)*
            }
        }
    }).collect()
}
