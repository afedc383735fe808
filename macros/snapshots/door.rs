mod door {
    /// Carried across transitions.
    pub struct Door {
        pub opened: u32,
    }
    /// Shut.
    ///
    ///A state of [`Machine`]: left by [`open`](Machine::open) (to `Open`); or closed with [`close`](Machine::close) or by dropping the machine.
    pub struct Shut;
    /// Open.
    ///
    ///A state of [`Machine`]: left by [`shut`](Machine::shut) (to `Shut`); transient: it cannot be closed, only left.
    pub struct Open {
        pub since: u64,
    }
    fn leave_shut(_: &mut Shut, door: &mut Door) {
        door.opened += 1;
    }
    /**A `door` machine, in the state its type parameter names.

Start one with an entrypoint constructor (`Machine::install`); move it with the transition methods of its state; end it with `close` or by dropping it. Each state runs its exit hook once when a transition leaves it and its close hook once when the machine ends in it. A machine cannot be cloned: it is one live instance.

| state | entered by | left by | closes |
|---|---|---|---|
| `Shut` | `install` | `open` to `Open` | yes |
| `Open` | - | `shut` to `Shut` | no (transient) |
*/
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
    pub struct Machine<S> {
        __live: ::statebound::__private::Live<S, Door>,
    }
    ///Whichever state a `door` machine is in, for code that stores machines whose state varies (see [`Slot`](statebound::Slot) to advance one in place).
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
    pub enum AnyState {
        ///In state `Shut`.
        Shut(Machine<Shut>),
        ///In state `Open`.
        Open(Machine<Open>),
    }
    ///The declared graph of the `door` machine. Render it with [`Graph::to_mermaid`](statebound::Graph::to_mermaid) or [`Graph::to_dot`](statebound::Graph::to_dot).
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
    pub const GRAPH: ::statebound::Graph = ::statebound::Graph {
        name: "door",
        states: &[
            ::statebound::__private::state_info(
                "Shut",
                "Shut.",
                "leave_shut",
                "",
                false,
            ),
            ::statebound::__private::state_info("Open", "Open.", "", "", true),
        ],
        entrypoints: &[::statebound::__private::entrypoint("install", "Shut")],
        transitions: &[
            ::statebound::__private::edge("open", "Shut", "Open"),
            ::statebound::__private::edge("shut", "Open", "Shut"),
        ],
    };
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
    const _: () = {
        use ::statebound::__private as __sb;
        type __L<S> = <S as __sb::State<Door>>::Transitions;
        pub enum open {}
        pub enum shut {}
        #[inline]
        fn __into_slot(
            __any: AnyState,
            __slot: &mut dyn ::core::any::Any,
        ) -> ::core::option::Option<AnyState> {
            match __any {
                AnyState::Shut(__m) => __sb::put(__slot, __m, AnyState::Shut),
                AnyState::Open(__m) => __sb::put(__slot, __m, AnyState::Open),
            }
        }
        impl<S: __sb::State<Door> + 'static> ::core::convert::TryFrom<AnyState>
        for Machine<S> {
            type Error = AnyState;
            #[inline]
            fn try_from(__any: AnyState) -> ::core::result::Result<Self, AnyState> {
                __sb::take(__any, __into_slot)
            }
        }
        impl<S> Machine<S> {
            /// A handle on the current state: it fails once the machine leaves this state.
            pub fn handle(&self) -> __sb::Handle {
                self.__live.core.handle()
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &Door {
                self.__live.core.context()
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut Door {
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
            pub fn with_observer(
                mut self,
                observer: __sb::Arc<dyn __sb::Observer>,
            ) -> Self {
                self.__live.core.set_observer(observer);
                self
            }
            ///Wraps this machine in [`AnyState`].
            pub fn into_any(self) -> AnyState
            where
                AnyState: ::core::convert::From<Self>,
            {
                ::core::convert::From::from(self)
            }
            /// Refuses to compile: a machine is one live instance, so it cannot be cloned.
            #[doc(hidden)]
            pub fn clone(&self) -> Self
            where
                Self: __sb::CloneMachine<S>,
            {
                __sb::CloneMachine::clone_machine(self)
            }
        }
        impl<S: __sb::State<Door>> Machine<S>
        where
            Self: __sb::Close<S, __L<S>>,
        {
            ///Closes the machine: runs the state's close hook, then returns the context. Dropping the machine closes it the same way; transient states have no `close`.
            pub fn close(self) -> Door {
                self.__live.close()
            }
        }
        impl<S> ::core::ops::Deref for Machine<S> {
            type Target = S;
            fn deref(&self) -> &S {
                self.__live.state()
            }
        }
        impl<S> ::core::ops::DerefMut for Machine<S> {
            fn deref_mut(&mut self) -> &mut S {
                self.__live.state_mut()
            }
        }
        impl<S: ::core::fmt::Debug> ::core::fmt::Debug for Machine<S> {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(self.__live.core.name())
                    .field("id", &self.__live.core.id())
                    .field("state", self.__live.state())
                    .finish()
            }
        }
        impl __sb::State<Door> for Shut {
            type Transitions = open;
            const NAME: &'static str = "Shut";
            const EXIT: ::core::option::Option<fn(&mut Self, &mut Door)> = ::core::option::Option::Some(|
                __state,
                __context|
            leave_shut(__state, __context));
        }
        impl __sb::Close<Shut, __L<Shut>> for Machine<Shut> {}
        impl ::core::convert::From<Machine<Shut>> for AnyState {
            #[inline]
            fn from(__machine: Machine<Shut>) -> Self {
                AnyState::Shut(__machine)
            }
        }
        impl Machine<Shut> {
            ///Starts a `door` machine in `Shut` through the `install` entrypoint.
            #[inline]
            pub fn install(context: Door, state: Shut) -> Self {
                Machine {
                    __live: __sb::Live::enter(
                        "door",
                        "install",
                        "Shut",
                        context,
                        state,
                        <Shut as __sb::State<Door>>::CLOSE,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::install`], with an observer that sees this entry and every later step.
            #[inline]
            pub fn install_observed(
                context: Door,
                state: Shut,
                observer: __sb::Arc<dyn __sb::Observer>,
            ) -> Self {
                Machine {
                    __live: __sb::Live::enter(
                        "door",
                        "install",
                        "Shut",
                        context,
                        state,
                        <Shut as __sb::State<Door>>::CLOSE,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
        }
        impl __sb::State<Door> for Open {
            type Transitions = shut;
            const NAME: &'static str = "Open";
        }
        impl ::core::convert::From<Machine<Open>> for AnyState {
            #[inline]
            fn from(__machine: Machine<Open>) -> Self {
                AnyState::Open(__machine)
            }
        }
        impl<S: __sb::State<Door>> Machine<S>
        where
            Self: __sb::Edge<open, S, Shut, Open, __L<S>>,
        {
            ///Takes the transition `open`: from `Shut` to `Open`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn open(
                self,
                build: impl ::core::ops::FnOnce(S) -> Open,
            ) -> Machine<Open> {
                Machine {
                    __live: self.__live.transition("open", build),
                }
            }
        }
        impl __sb::Edge<open, Shut, Shut, Open, open> for Machine<Shut> {
            type To = Open;
        }
        impl<S: __sb::State<Door>> Machine<S>
        where
            Self: __sb::Edge<shut, S, Open, Shut, __L<S>>,
        {
            ///Takes the transition `shut`: from `Open` to `Shut`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn shut(
                self,
                build: impl ::core::ops::FnOnce(S) -> Shut,
            ) -> Machine<Shut> {
                Machine {
                    __live: self.__live.transition("shut", build),
                }
            }
        }
        impl __sb::Edge<shut, Open, Open, Shut, shut> for Machine<Open> {
            type To = Shut;
        }
        impl __sb::AnyMachine<Door> for AnyState {
            #[inline]
            fn __core(&self) -> &__sb::Core<Door> {
                match self {
                    AnyState::Shut(__m) => &__m.__live.core,
                    AnyState::Open(__m) => &__m.__live.core,
                }
            }
            #[inline]
            fn __core_mut(&mut self) -> &mut __sb::Core<Door> {
                match self {
                    AnyState::Shut(__m) => &mut __m.__live.core,
                    AnyState::Open(__m) => &mut __m.__live.core,
                }
            }
            #[inline]
            fn __close(self) -> Door {
                match self {
                    AnyState::Shut(__m) => __m.__live.close(),
                    AnyState::Open(__m) => __m.__live.close(),
                }
            }
        }
        impl AnyState {
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
            pub fn context(&self) -> &Door {
                __sb::AnyMachine::__core(self).context()
            }
            /// The context carried across transitions, mutably.
            #[inline]
            pub fn context_mut(&mut self) -> &mut Door {
                __sb::AnyMachine::__core_mut(self).context_mut()
            }
            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            #[inline]
            pub fn close(self) -> Door {
                __sb::AnyMachine::__close(self)
            }
        }
        impl ::core::fmt::Debug for AnyState {
            #[inline]
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct("AnyState")
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    };
}
