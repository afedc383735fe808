mod door {
    /// Carried across transitions.
    pub struct Door {
        pub opened: u32,
    }
    /// Shut.
    pub struct Shut;
    /// Open.
    pub struct Open {
        pub since: u64,
    }
    fn leave_shut(_: &mut Shut, door: &mut Door) {
        door.opened += 1;
    }
    /**A `door` machine, in the state its type parameter names.

Start one with an entrypoint constructor (`Machine::install`); move it with the transition methods of its state; end it with `close` or by dropping it. Each state runs its exit hook once when a transition leaves it and its close hook once when the machine ends in it.*/
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
    pub struct Machine<__S> {
        __live: ::statebound::__private::Live<__S, Door>,
    }
    ///Whichever state a `door` machine is in, for code that stores machines whose state varies.
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
    pub enum AnyState {
        ///In state `Shut`.
        Shut(Machine<Shut>),
        ///In state `Open`.
        Open(Machine<Open>),
    }
    ///The declared graph of the `door` machine. Render it with [`Graph::to_mermaid`](::statebound::Graph::to_mermaid) or [`Graph::to_dot`](::statebound::Graph::to_dot).
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
    pub const GRAPH: ::statebound::Graph = ::statebound::Graph {
        name: "door",
        states: &[
            ::statebound::StateInfo {
                name: "Shut",
                doc: "Shut.",
                exit: ::core::option::Option::Some("leave_shut"),
                close: ::core::option::Option::None,
                transient: false,
            },
            ::statebound::StateInfo {
                name: "Open",
                doc: "Open.",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::None,
                transient: true,
            },
        ],
        entrypoints: &[
            ::statebound::Entrypoint {
                role: "install",
                state: "Shut",
            },
        ],
        transitions: &[
            ::statebound::Transition {
                name: "open",
                from: "Shut",
                to: "Open",
            },
            ::statebound::Transition {
                name: "shut",
                from: "Open",
                to: "Shut",
            },
        ],
    };
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
    const _: () = {
        static __STATEBOUND_SPEC_0: ::statebound::__private::StateSpec<Shut, Door> = ::statebound::__private::StateSpec {
            machine: "door",
            name: "Shut",
            exit: {
                fn __statebound_exit_0(__state: &mut Shut, __context: &mut Door) {
                    leave_shut(__state, __context)
                }
                __statebound_exit_0
            },
            close: { ::statebound::__private::no_close },
        };
        static __STATEBOUND_SPEC_1: ::statebound::__private::StateSpec<Open, Door> = ::statebound::__private::StateSpec {
            machine: "door",
            name: "Open",
            exit: { ::statebound::__private::no_exit },
            close: { ::statebound::__private::no_close },
        };
        impl<__S> Machine<__S> {
            /// A handle on the current state: it fails once the machine leaves this state.
            pub fn handle(&self) -> ::statebound::Handle {
                self.__live.handle()
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &Door {
                self.__live.context()
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut Door {
                self.__live.context_mut()
            }
            /// The id of this machine instance, the same in every state it passes through.
            pub fn id(&self) -> ::statebound::MachineId {
                self.__live.id()
            }
            /// The name of the current state.
            pub fn name(&self) -> &'static str {
                self.__live.name()
            }
            /// Installs an observer that sees every later transition and the close.
            #[must_use]
            pub fn with_observer(
                mut self,
                observer: ::statebound::__private::Arc<dyn ::statebound::Observer>,
            ) -> Self {
                self.__live.set_observer(observer);
                self
            }
        }
        impl<__S> ::core::ops::Deref for Machine<__S> {
            type Target = __S;
            fn deref(&self) -> &__S {
                self.__live.state()
            }
        }
        impl<__S> ::core::ops::DerefMut for Machine<__S> {
            fn deref_mut(&mut self) -> &mut __S {
                self.__live.state_mut()
            }
        }
        impl<__S: ::core::fmt::Debug> ::core::fmt::Debug for Machine<__S> {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(self.__live.name())
                    .field("id", &self.__live.id())
                    .field("state", self.__live.state())
                    .finish()
            }
        }
        impl Machine<Shut> {
            ///Starts a `door` machine in `Shut` through the `install` entrypoint.
            pub fn install(context: Door, state: Shut) -> Self {
                Machine {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_0,
                        "install",
                        context,
                        state,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::install`], with an observer that sees this entry and every later step.
            pub fn install_observed(
                context: Door,
                state: Shut,
                observer: ::statebound::__private::Arc<dyn ::statebound::Observer>,
            ) -> Self {
                Machine {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_0,
                        "install",
                        context,
                        state,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
            /**Takes the transition `open` from `Shut` to `Open`.

`build` makes the `Open` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook (`leave_shut`) runs; the context moves across unchanged.*/
            pub fn open(
                self,
                build: impl ::core::ops::FnOnce(Shut) -> Open,
            ) -> Machine<Open> {
                Machine {
                    __live: self.__live.transition("open", &__STATEBOUND_SPEC_1, build),
                }
            }
            #[doc(hidden)]
            pub fn shut<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Shut) -> Shut,
            ) -> Machine<Shut>
            where
                &'__statebound (): __Shut_shut,
            {
                ::core::unreachable!()
            }
            /**Closes the machine in `Shut`. Returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> Door {
                self.__live.close()
            }
            ///Wraps this machine in [`AnyState`].
            pub fn into_any(self) -> AnyState {
                AnyState::Shut(self)
            }
        }
        impl ::core::convert::From<Machine<Shut>> for AnyState {
            fn from(__machine: Machine<Shut>) -> Self {
                AnyState::Shut(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnyState> for Machine<Shut> {
            type Error = AnyState;
            fn try_from(__any: AnyState) -> ::core::result::Result<Self, AnyState> {
                match __any {
                    AnyState::Shut(__machine) => ::core::result::Result::Ok(__machine),
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `shut` from state `Shut`",
            label = "`Shut` has no transition `shut`",
            note = "transitions from `Shut`: `open`",
            note = "`shut` leaves from `Open`"
        )]
        pub trait __Shut_shut {}
        impl Machine<Open> {
            #[doc(hidden)]
            pub fn open<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Open) -> Open,
            ) -> Machine<Open>
            where
                &'__statebound (): __Open_open,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `shut` from `Open` to `Shut`.

`build` makes the `Shut` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn shut(
                self,
                build: impl ::core::ops::FnOnce(Open) -> Shut,
            ) -> Machine<Shut> {
                Machine {
                    __live: self.__live.transition("shut", &__STATEBOUND_SPEC_0, build),
                }
            }
            #[doc(hidden)]
            pub fn close<'__statebound>(self) -> Door
            where
                &'__statebound (): __Open_close,
            {
                ::core::unreachable!()
            }
            ///Wraps this machine in [`AnyState`].
            pub fn into_any(self) -> AnyState {
                AnyState::Open(self)
            }
        }
        impl ::core::convert::From<Machine<Open>> for AnyState {
            fn from(__machine: Machine<Open>) -> Self {
                AnyState::Open(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnyState> for Machine<Open> {
            type Error = AnyState;
            fn try_from(__any: AnyState) -> ::core::result::Result<Self, AnyState> {
                match __any {
                    AnyState::Open(__machine) => ::core::result::Result::Ok(__machine),
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `open` from state `Open`",
            label = "`Open` has no transition `open`",
            note = "transitions from `Open`: `shut`",
            note = "`open` leaves from `Shut`"
        )]
        pub trait __Open_open {}
        #[diagnostic::on_unimplemented(
            message = "state `Open` is transient and cannot be closed",
            label = "`Open` must be left by a transition before the machine closes",
            note = "transitions from `Open`: `shut`"
        )]
        pub trait __Open_close {}
        impl AnyState {
            /// The name of the current state.
            pub fn name(&self) -> &'static str {
                match self {
                    AnyState::Shut(__m) => __m.__live.name(),
                    AnyState::Open(__m) => __m.__live.name(),
                }
            }
            /// The id of the machine instance.
            pub fn id(&self) -> ::statebound::MachineId {
                match self {
                    AnyState::Shut(__m) => __m.__live.id(),
                    AnyState::Open(__m) => __m.__live.id(),
                }
            }
            /// A handle on the current state.
            pub fn handle(&self) -> ::statebound::Handle {
                match self {
                    AnyState::Shut(__m) => __m.__live.handle(),
                    AnyState::Open(__m) => __m.__live.handle(),
                }
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &Door {
                match self {
                    AnyState::Shut(__m) => __m.__live.context(),
                    AnyState::Open(__m) => __m.__live.context(),
                }
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut Door {
                match self {
                    AnyState::Shut(__m) => __m.__live.context_mut(),
                    AnyState::Open(__m) => __m.__live.context_mut(),
                }
            }
            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            pub fn close(self) -> Door {
                match self {
                    AnyState::Shut(__m) => __m.__live.close(),
                    AnyState::Open(__m) => __m.__live.close(),
                }
            }
        }
        impl ::core::fmt::Debug for AnyState {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct("AnyState")
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    };
}
