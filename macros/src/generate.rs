//! [`model`](crate::model) to tokens. Cannot fail: every rule was checked before.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Item};

use crate::ast;
use crate::model::{Machine, State};

/// The path generated code uses to reach the runtime. Built here only, so that every reference
/// is absolute and the user's scope is never touched.
fn runtime() -> TokenStream {
    quote!(::statebound)
}

fn private() -> TokenStream {
    let rt = runtime();
    quote!(#rt::__private)
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
            non_upper_case_globals,
            non_snake_case,
            unused_qualifications,
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
    let rt = runtime();
    let pv = private();
    let ty = &m.ty;
    let any = &m.any;
    let ctx = context_type(m);
    let name = m.name.to_string();

    let machine_doc = format!(
        "A `{name}` machine, in the state its type parameter names.\n\nStart one with an entrypoint constructor \
         ({}); move it with the transition methods of its state; end it with `close` or by \
         dropping it. Each state runs its exit hook once when a transition leaves it and its close \
         hook once when the machine ends in it.",
        m.entrypoints
            .iter()
            .map(|e| format!("`{ty}::{}`", e.role))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let any_doc = format!(
        "Whichever state a `{name}` machine is in, for code that stores machines whose state varies."
    );
    let graph = graph_const(m);
    let specs = m
        .states
        .iter()
        .enumerate()
        .map(|(i, s)| state_spec(m, i, s));
    let state_impls = (0..m.states.len()).map(|i| state_impl(m, i));
    let any_impl = any_impl(m);
    let any_variants = m.states.iter().map(|s| {
        let ident = &s.ident;
        let doc = format!("In state `{ident}`.");
        quote!(#[doc = #doc] #ident(#ty<#ident>),)
    });

    let generated = quote! {
        #[doc = #machine_doc]
        #lints
        pub struct #ty<__S> {
            __live: #pv::Live<__S, #ctx>,
        }

        #[doc = #any_doc]
        #lints
        pub enum #any {
            #(#any_variants)*
        }

        #graph

        #lints
        const _: () = {
            #(#specs)*

            impl<__S> #ty<__S> {
                /// A handle on the current state: it fails once the machine leaves this state.
                pub fn handle(&self) -> #rt::Handle {
                    self.__live.handle()
                }

                /// The context carried across transitions.
                pub fn context(&self) -> &#ctx {
                    self.__live.context()
                }

                /// The context carried across transitions, mutably.
                pub fn context_mut(&mut self) -> &mut #ctx {
                    self.__live.context_mut()
                }

                /// The id of this machine instance, the same in every state it passes through.
                pub fn id(&self) -> #rt::MachineId {
                    self.__live.id()
                }

                /// The name of the current state.
                pub fn name(&self) -> &'static str {
                    self.__live.name()
                }

                /// Installs an observer that sees every later transition and the close.
                #[must_use]
                pub fn with_observer(mut self, observer: #pv::Arc<dyn #rt::Observer>) -> Self {
                    self.__live.set_observer(observer);
                    self
                }
            }

            impl<__S> ::core::ops::Deref for #ty<__S> {
                type Target = __S;
                fn deref(&self) -> &__S {
                    self.__live.state()
                }
            }

            impl<__S> ::core::ops::DerefMut for #ty<__S> {
                fn deref_mut(&mut self) -> &mut __S {
                    self.__live.state_mut()
                }
            }

            impl<__S: ::core::fmt::Debug> ::core::fmt::Debug for #ty<__S> {
                fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    __f.debug_struct(self.__live.name())
                        .field("id", &self.__live.id())
                        .field("state", self.__live.state())
                        .finish()
                }
            }

            #(#state_impls)*

            #any_impl
        };
    };
    wrap_module(&m.module, &generated)
}

fn context_type(m: &Machine) -> TokenStream {
    match &m.context {
        Some(path) => quote!(#path),
        None => quote!(()),
    }
}

fn spec_ident(index: usize) -> Ident {
    format_ident!("__STATEBOUND_SPEC_{}", index)
}

/// Name of the never-implemented trait whose unmet bound reports calling `method` on `state`.
fn refusal_trait(state: &Ident, method: &Ident) -> Ident {
    format_ident!("__{}_{}", state, method)
}

/// The state's static description: its names and its hooks adapted to the engine's signature.
fn state_spec(m: &Machine, index: usize, state: &State) -> TokenStream {
    let pv = private();
    let ctx = context_type(m);
    let ident = &state.ident;
    let spec = spec_ident(index);
    let machine = m.name.to_string();
    let name = ident.to_string();
    let has_ctx = m.context.is_some();
    let exit = match &state.exit {
        Some(path) => {
            let (param, call) = hook_call(path, has_ctx);
            let f = format_ident!("__statebound_exit_{}", index);
            quote! {
                fn #f(__state: &mut #ident, #param: &mut #ctx) {
                    #call
                }
                #f
            }
        }
        None => quote!(#pv::no_exit),
    };
    let close = match &state.close {
        Some(path) => {
            let (param, call) = hook_call(path, has_ctx);
            let f = format_ident!("__statebound_close_{}", index);
            quote! {
                fn #f(__state: #ident, #param: &mut #ctx) {
                    #call
                }
                #f
            }
        }
        None => quote!(#pv::no_close),
    };
    quote! {
        static #spec: #pv::StateSpec<#ident, #ctx> = #pv::StateSpec {
            machine: #machine,
            name: #name,
            exit: { #exit },
            close: { #close },
        };
    }
}

/// The context parameter's name and the call of the user's hook, spanned at the hook's path so
/// that a type mismatch points there.
fn hook_call(path: &syn::Path, has_ctx: bool) -> (Ident, TokenStream) {
    if has_ctx {
        let context = format_ident!("__context");
        let call = quote_spanned!(path.span()=> #path(__state, #context));
        (context, call)
    } else {
        (
            format_ident!("__context"),
            quote_spanned!(path.span()=> { let _ = __context; #path(__state) }),
        )
    }
}

fn ticked_list<'a>(names: impl IntoIterator<Item = &'a Ident>) -> String {
    let list: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    list.join(", ")
}

/// Everything specific to one state: entrypoints, transitions (real and refused), `close`,
/// conversion into the all-states enum, and the refusal traits.
fn state_impl(m: &Machine, index: usize) -> TokenStream {
    let ty = &m.ty;
    let any = &m.any;
    let ident = &m.states[index].ident;

    let own: Vec<&Ident> = m.transitions_from(index).map(|t| &t.name).collect();
    let own_note = if own.is_empty() {
        format!("`{ident}` has no transitions")
    } else {
        format!(
            "transitions from `{ident}`: {}",
            ticked_list(own.iter().copied())
        )
    };

    let entries = entry_constructors(m, index);
    let mut refusals = Vec::new();
    let transitions: Vec<TokenStream> = m
        .transition_names()
        .into_iter()
        .map(|(name, to)| transition_method(m, index, name, to, &own_note, &mut refusals))
        .collect();
    let close = close_method(m, index, &own_note, &mut refusals);

    let into_any_doc = format!("Wraps this machine in [`{any}`].");
    quote! {
        impl #ty<#ident> {
            #(#entries)*
            #(#transitions)*
            #close

            #[doc = #into_any_doc]
            pub fn into_any(self) -> #any {
                #any::#ident(self)
            }
        }

        impl ::core::convert::From<#ty<#ident>> for #any {
            fn from(__machine: #ty<#ident>) -> Self {
                #any::#ident(__machine)
            }
        }

        impl ::core::convert::TryFrom<#any> for #ty<#ident> {
            type Error = #any;
            fn try_from(__any: #any) -> ::core::result::Result<Self, #any> {
                match __any {
                    #any::#ident(__machine) => ::core::result::Result::Ok(__machine),
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }

        #(#refusals)*
    }
}

/// The constructors of the entrypoints that start in state `index`.
fn entry_constructors(m: &Machine, index: usize) -> Vec<TokenStream> {
    let rt = runtime();
    let pv = private();
    let ty = &m.ty;
    let ctx = context_type(m);
    let ident = &m.states[index].ident;
    let spec = spec_ident(index);
    let machine = m.name.to_string();
    m.entrypoints.iter().filter(|e| e.state == index).map(|e| {
        let role = &e.role;
        let observed = format_ident!("{}_observed", role);
        let role_name = role.to_string();
        let doc = format!("Starts a `{machine}` machine in `{ident}` through the `{role}` entrypoint.");
        let observed_doc = format!(
            "Like [`Self::{role}`], with an observer that sees this entry and every later step."
        );
        let (params, args) = if m.context.is_some() {
            (quote!(context: #ctx, state: #ident), quote!(context, state))
        } else {
            (quote!(state: #ident), quote!((), state))
        };
        quote! {
            #[doc = #doc]
            pub fn #role(#params) -> Self {
                #ty { __live: #pv::Live::enter(&#spec, #role_name, #args, ::core::option::Option::None) }
            }

            #[doc = #observed_doc]
            pub fn #observed(#params, observer: #pv::Arc<dyn #rt::Observer>) -> Self {
                #ty { __live: #pv::Live::enter(&#spec, #role_name, #args, ::core::option::Option::Some(observer)) }
            }
        }
    }).collect()
}

/// The method for transition `name` (leading to `to`) on state `index`: the real one where the
/// state has the edge, otherwise a hidden one whose unmet bound names the state's transitions.
fn transition_method(
    m: &Machine,
    index: usize,
    name: &Ident,
    to: usize,
    own_note: &str,
    refusals: &mut Vec<TokenStream>,
) -> TokenStream {
    let ty = &m.ty;
    let state = &m.states[index];
    let ident = &state.ident;
    let target = &m.states[to].ident;
    if m.transitions_from(index).any(|t| t.name == *name) {
        let target_spec = spec_ident(to);
        let name_str = name.to_string();
        let build = format_ident!("build");
        let hook = match &state.exit {
            Some(p) => format!(" (`{}`)", crate::parse::path_text(p)),
            None => String::new(),
        };
        let doc = format!(
            "Takes the transition `{name}` from `{ident}` to `{target}`.\n\n\
             `build` makes the `{target}` data from this state's data. Before it runs, the \
             state is sealed (its handles fail from then on) and its exit hook{hook} runs; \
             the context moves across unchanged."
        );
        return quote! {
            #[doc = #doc]
            pub fn #name(self, #build: impl ::core::ops::FnOnce(#ident) -> #target) -> #ty<#target> {
                #ty { __live: self.__live.transition(#name_str, &#target_spec, #build) }
            }
        };
    }
    let sources: Vec<&Ident> = m
        .transitions
        .iter()
        .filter(|t| t.name == *name)
        .map(|t| &m.states[t.from].ident)
        .collect();
    let refusal = refusal_trait(ident, name);
    let message = format!("no transition `{name}` from state `{ident}`");
    let label = format!("`{ident}` has no transition `{name}`");
    let sources_note = format!("`{name}` leaves from {}", ticked_list(sources));
    refusals.push(quote! {
        #[diagnostic::on_unimplemented(message = #message, label = #label, note = #own_note, note = #sources_note)]
        pub trait #refusal {}
    });
    quote! {
        #[doc(hidden)]
        pub fn #name<'__statebound>(self, _build: impl ::core::ops::FnOnce(#ident) -> #target) -> #ty<#target>
        where
            &'__statebound (): #refusal,
        {
            ::core::unreachable!()
        }
    }
}

/// `close` on state `index`, or on a transient state a hidden one that refuses to compile.
fn close_method(
    m: &Machine,
    index: usize,
    own_note: &str,
    refusals: &mut Vec<TokenStream>,
) -> TokenStream {
    let ctx = context_type(m);
    let state = &m.states[index];
    let ident = &state.ident;
    if state.transient {
        let refusal = refusal_trait(ident, &format_ident!("close"));
        let message = format!("state `{ident}` is transient and cannot be closed");
        let label = format!("`{ident}` must be left by a transition before the machine closes");
        refusals.push(quote! {
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #own_note)]
            pub trait #refusal {}
        });
        return quote! {
            #[doc(hidden)]
            pub fn close<'__statebound>(self) -> #ctx
            where
                &'__statebound (): #refusal,
            {
                ::core::unreachable!()
            }
        };
    }
    let hook = match &state.close {
        Some(p) => format!(
            "Runs the close hook (`{}`), then returns",
            crate::parse::path_text(p)
        ),
        None => "Returns".to_owned(),
    };
    let doc = format!(
        "Closes the machine in `{ident}`. {hook} the context.\n\nDropping the value closes it \
         the same way."
    );
    quote! {
        #[doc = #doc]
        pub fn close(self) -> #ctx {
            self.__live.close()
        }
    }
}

fn any_impl(m: &Machine) -> TokenStream {
    let rt = runtime();
    let any = &m.any;
    let any_name = any.to_string();
    let ctx = context_type(m);
    let idents: Vec<&Ident> = m.states.iter().map(|s| &s.ident).collect();
    quote! {
        impl #any {
            /// The name of the current state.
            pub fn name(&self) -> &'static str {
                match self { #(#any::#idents(__m) => __m.__live.name(),)* }
            }

            /// The id of the machine instance.
            pub fn id(&self) -> #rt::MachineId {
                match self { #(#any::#idents(__m) => __m.__live.id(),)* }
            }

            /// A handle on the current state.
            pub fn handle(&self) -> #rt::Handle {
                match self { #(#any::#idents(__m) => __m.__live.handle(),)* }
            }

            /// The context carried across transitions.
            pub fn context(&self) -> &#ctx {
                match self { #(#any::#idents(__m) => __m.__live.context(),)* }
            }

            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut #ctx {
                match self { #(#any::#idents(__m) => __m.__live.context_mut(),)* }
            }

            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            pub fn close(self) -> #ctx {
                match self { #(#any::#idents(__m) => __m.__live.close(),)* }
            }
        }

        impl ::core::fmt::Debug for #any {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(#any_name)
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    }
}

fn graph_const(m: &Machine) -> TokenStream {
    let rt = runtime();
    let lints = allowed_lints();
    let name = m.name.to_string();
    let states = m.states.iter().map(|s| {
        let n = s.ident.to_string();
        let doc = &s.doc;
        let hook = |h: &Option<syn::Path>| match h {
            Some(p) => {
                let text = crate::parse::path_text(p);
                quote!(::core::option::Option::Some(#text))
            }
            None => quote!(::core::option::Option::None),
        };
        let exit = hook(&s.exit);
        let close = hook(&s.close);
        let transient = s.transient;
        quote!(#rt::StateInfo { name: #n, doc: #doc, exit: #exit, close: #close, transient: #transient })
    });
    let entries = m.entrypoints.iter().map(|e| {
        let role = e.role.to_string();
        let state = m.states[e.state].ident.to_string();
        quote!(#rt::Entrypoint { role: #role, state: #state })
    });
    let transitions = m.transitions.iter().map(|t| {
        let n = t.name.to_string();
        let from = m.states[t.from].ident.to_string();
        let to = m.states[t.to].ident.to_string();
        quote!(#rt::Transition { name: #n, from: #from, to: #to })
    });
    let doc = format!(
        "The declared graph of the `{name}` machine. Render it with \
         [`Graph::to_mermaid`]({rt_path}::Graph::to_mermaid) or [`Graph::to_dot`]({rt_path}::Graph::to_dot).",
        rt_path = "::statebound"
    );
    quote! {
        #[doc = #doc]
        #lints
        pub const GRAPH: #rt::Graph = #rt::Graph {
            name: #name,
            states: &[#(#states),*],
            entrypoints: &[#(#entries),*],
            transitions: &[#(#transitions),*],
        };
    }
}

/// The module as written with `extra` appended to its items.
fn wrap_module(module: &syn::ItemMod, extra: &TokenStream) -> TokenStream {
    let (inner, attrs): (Vec<&syn::Attribute>, Vec<&syn::Attribute>) = module
        .attrs
        .iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let vis = &module.vis;
    let unsafety = &module.unsafety;
    let ident = &module.ident;
    let items: &[Item] = module.content.as_ref().map_or(&[], |(_, items)| items);
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
/// of its own. The stubs have no bodies worth running: the crate does not compile anyway.
pub(crate) fn skeleton(ast: &ast::Machine) -> TokenStream {
    let lints = allowed_lints();
    let rt = runtime();
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
    for state in &ast.states {
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
    let stub_impls = state_stubs(ast, &states, &ctx, &ty);

    let machine = (!defined(&ty)).then(|| {
        quote! {
            #[doc(hidden)]
            #lints
            pub struct #ty<__S>(::core::marker::PhantomData<__S>);

            #[doc(hidden)]
            #lints
            impl<__S> #ty<__S> {
                pub fn handle(&self) -> #rt::Handle { ::core::unreachable!() }
                pub fn context(&self) -> &#ctx { ::core::unreachable!() }
                pub fn context_mut(&mut self) -> &mut #ctx { ::core::unreachable!() }
                pub fn id(&self) -> #rt::MachineId { ::core::unreachable!() }
                pub fn name(&self) -> &'static str { ::core::unreachable!() }
                pub fn close(self) -> #ctx { ::core::unreachable!() }
                pub fn into_any(self) -> #any { ::core::unreachable!() }
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
            pub const GRAPH: #rt::Graph = #rt::Graph { name: #name, states: &[], entrypoints: &[], transitions: &[] };
        }
    });
    let extra = quote! {
        #machine
        #any_enum
        #graph
    };
    wrap_module(&module, &extra)
}

/// Skeleton stubs of the entrypoints and transitions each state declares.
fn state_stubs(
    ast: &ast::Machine,
    states: &[&ast::State],
    ctx: &TokenStream,
    ty: &Ident,
) -> Vec<TokenStream> {
    let lints = allowed_lints();
    let rt = runtime();
    states.iter().map(|state| {
        let ident = &state.ident;
        let roles = state.entries.iter().filter(|role| {
            !crate::check::RESERVED.iter().any(|r| *role == r)
        }).map(|role| {
            let observed = format_ident!("{}_observed", role);
            let params = match ast.context.as_slice() {
                [] => quote!(_state: #ident),
                _ => quote!(_context: #ctx, _state: #ident),
            };
            quote! {
                pub fn #role(#params) -> Self { ::core::unreachable!() }
                pub fn #observed(#params, _observer: ::statebound::__private::Arc<dyn #rt::Observer>) -> Self {
                    ::core::unreachable!()
                }
            }
        });
        let mut names: Vec<&Ident> = Vec::new();
        let transitions = state.transitions.iter().filter_map(|t| {
            let name = &t.name;
            let taken = names.contains(&name)
                || crate::check::RESERVED.iter().any(|r| name == r)
                || ast.states.iter().any(|s| s.entries.contains(name));
            if taken {
                return None;
            }
            names.push(name);
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
