/// The session graph: states, entrypoints, transitions and hooks.
pub mod session {
    use tokio::time::Instant;
    use crate::session::{CloseCode, Connection, SessionContext};
    /// No connection: the session waits, until its grace deadline, for one.
    #[derive(Debug)]
    pub struct NoConnection;
    /// Waiting out the backoff before the next connection attempt (client).
    #[derive(Debug)]
    pub struct BackingOff {
        /// When the attempt starts.
        pub until: Instant,
    }
    /// Dialling the server, bounded by the connection timeout (client). The dial itself runs
    /// outside the session and reports back with this state's handle; a dial that reports after
    /// the state was left finds the handle stale and its connection is closed.
    #[derive(Debug)]
    pub struct Connecting {
        /// When the dial is given up.
        pub deadline: Instant,
    }
    /// Connected; handshake request sent, waiting for the response (client).
    #[derive(Debug)]
    pub struct Handshaking {
        /// The connection being handshaken.
        pub conn: Box<dyn Connection>,
    }
    /// A fresh connection that has not completed its handshake yet (server).
    #[derive(Debug)]
    pub struct WaitingForHandshake {
        /// The connection.
        pub conn: Box<dyn Connection>,
        /// Whether the request arrived and is being decided on; no more frames are read until
        /// the decision.
        pub request_received: bool,
    }
    /// Handshake done: messages flow, heartbeats keep the connection alive (both roles).
    #[derive(Debug)]
    pub struct Connected {
        /// The connection.
        pub conn: Box<dyn Connection>,
        /// When the last in-order message arrived; the liveness watchdog measures from here.
        pub last_inbound: Instant,
    }
    /// The only way out of `Connected` is losing the connection; whoever lost it, it is closed
    /// here, saying the session continues.
    fn exit_connected(state: &mut Connected, _: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_CONTINUES);
    }
    /// A session that ends drops what it never delivered, and closes its connection if it has
    /// one, saying the session is over.
    fn close_no_connection(_: NoConnection, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_backing_off(_: BackingOff, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_connecting(_: Connecting, ctx: &mut SessionContext) {
        ctx.send_buffer.clear();
    }
    fn close_handshaking(mut state: Handshaking, ctx: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }
    fn close_waiting_for_handshake(
        mut state: WaitingForHandshake,
        ctx: &mut SessionContext,
    ) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }
    fn close_connected(mut state: Connected, ctx: &mut SessionContext) {
        state.conn.close(CloseCode::SESSION_ENDED);
        ctx.send_buffer.clear();
    }
    /**A `session` machine, in the state its type parameter names.

Start one with an entrypoint constructor (`Session::client`, `Session::server`); move it with the transition methods of its state; end it with `close` or by dropping it. Each state runs its exit hook once when a transition leaves it and its close hook once when the machine ends in it.*/
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
    pub struct Session<__S> {
        __live: ::statebound::__private::Live<__S, crate::session::SessionContext>,
    }
    ///Whichever state a `session` machine is in, for code that stores machines whose state varies.
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
    pub enum AnySession {
        ///In state `NoConnection`.
        NoConnection(Session<NoConnection>),
        ///In state `BackingOff`.
        BackingOff(Session<BackingOff>),
        ///In state `Connecting`.
        Connecting(Session<Connecting>),
        ///In state `Handshaking`.
        Handshaking(Session<Handshaking>),
        ///In state `WaitingForHandshake`.
        WaitingForHandshake(Session<WaitingForHandshake>),
        ///In state `Connected`.
        Connected(Session<Connected>),
    }
    ///The declared graph of the `session` machine. Render it with [`Graph::to_mermaid`](::statebound::Graph::to_mermaid) or [`Graph::to_dot`](::statebound::Graph::to_dot).
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
        name: "session",
        states: &[
            ::statebound::StateInfo {
                name: "NoConnection",
                doc: "No connection: the session waits, until its grace deadline, for one.",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::Some("close_no_connection"),
                transient: false,
            },
            ::statebound::StateInfo {
                name: "BackingOff",
                doc: "Waiting out the backoff before the next connection attempt (client).",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::Some("close_backing_off"),
                transient: false,
            },
            ::statebound::StateInfo {
                name: "Connecting",
                doc: "Dialling the server, bounded by the connection timeout (client). The dial itself runs",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::Some("close_connecting"),
                transient: false,
            },
            ::statebound::StateInfo {
                name: "Handshaking",
                doc: "Connected; handshake request sent, waiting for the response (client).",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::Some("close_handshaking"),
                transient: false,
            },
            ::statebound::StateInfo {
                name: "WaitingForHandshake",
                doc: "A fresh connection that has not completed its handshake yet (server).",
                exit: ::core::option::Option::None,
                close: ::core::option::Option::Some("close_waiting_for_handshake"),
                transient: false,
            },
            ::statebound::StateInfo {
                name: "Connected",
                doc: "Handshake done: messages flow, heartbeats keep the connection alive (both roles).",
                exit: ::core::option::Option::Some("exit_connected"),
                close: ::core::option::Option::Some("close_connected"),
                transient: false,
            },
        ],
        entrypoints: &[
            ::statebound::Entrypoint {
                role: "client",
                state: "NoConnection",
            },
            ::statebound::Entrypoint {
                role: "server",
                state: "WaitingForHandshake",
            },
        ],
        transitions: &[
            ::statebound::Transition {
                name: "back_off",
                from: "NoConnection",
                to: "BackingOff",
            },
            ::statebound::Transition {
                name: "connect",
                from: "BackingOff",
                to: "Connecting",
            },
            ::statebound::Transition {
                name: "cancel",
                from: "BackingOff",
                to: "NoConnection",
            },
            ::statebound::Transition {
                name: "connection_established",
                from: "Connecting",
                to: "Handshaking",
            },
            ::statebound::Transition {
                name: "connection_failed",
                from: "Connecting",
                to: "NoConnection",
            },
            ::statebound::Transition {
                name: "handshake_ok",
                from: "Handshaking",
                to: "Connected",
            },
            ::statebound::Transition {
                name: "connection_lost",
                from: "Handshaking",
                to: "NoConnection",
            },
            ::statebound::Transition {
                name: "handshake_ok",
                from: "WaitingForHandshake",
                to: "Connected",
            },
            ::statebound::Transition {
                name: "connection_lost",
                from: "Connected",
                to: "NoConnection",
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
        static __STATEBOUND_SPEC_0: ::statebound::__private::StateSpec<
            NoConnection,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "NoConnection",
            exit: { ::statebound::__private::no_exit },
            close: {
                fn __statebound_close_0(
                    __state: NoConnection,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_no_connection(__state, __context)
                }
                __statebound_close_0
            },
        };
        static __STATEBOUND_SPEC_1: ::statebound::__private::StateSpec<
            BackingOff,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "BackingOff",
            exit: { ::statebound::__private::no_exit },
            close: {
                fn __statebound_close_1(
                    __state: BackingOff,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_backing_off(__state, __context)
                }
                __statebound_close_1
            },
        };
        static __STATEBOUND_SPEC_2: ::statebound::__private::StateSpec<
            Connecting,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "Connecting",
            exit: { ::statebound::__private::no_exit },
            close: {
                fn __statebound_close_2(
                    __state: Connecting,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_connecting(__state, __context)
                }
                __statebound_close_2
            },
        };
        static __STATEBOUND_SPEC_3: ::statebound::__private::StateSpec<
            Handshaking,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "Handshaking",
            exit: { ::statebound::__private::no_exit },
            close: {
                fn __statebound_close_3(
                    __state: Handshaking,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_handshaking(__state, __context)
                }
                __statebound_close_3
            },
        };
        static __STATEBOUND_SPEC_4: ::statebound::__private::StateSpec<
            WaitingForHandshake,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "WaitingForHandshake",
            exit: { ::statebound::__private::no_exit },
            close: {
                fn __statebound_close_4(
                    __state: WaitingForHandshake,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_waiting_for_handshake(__state, __context)
                }
                __statebound_close_4
            },
        };
        static __STATEBOUND_SPEC_5: ::statebound::__private::StateSpec<
            Connected,
            crate::session::SessionContext,
        > = ::statebound::__private::StateSpec {
            machine: "session",
            name: "Connected",
            exit: {
                fn __statebound_exit_5(
                    __state: &mut Connected,
                    __context: &mut crate::session::SessionContext,
                ) {
                    exit_connected(__state, __context)
                }
                __statebound_exit_5
            },
            close: {
                fn __statebound_close_5(
                    __state: Connected,
                    __context: &mut crate::session::SessionContext,
                ) {
                    close_connected(__state, __context)
                }
                __statebound_close_5
            },
        };
        impl<__S> Session<__S> {
            /// A handle on the current state: it fails once the machine leaves this state.
            pub fn handle(&self) -> ::statebound::Handle {
                self.__live.handle()
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &crate::session::SessionContext {
                self.__live.context()
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut crate::session::SessionContext {
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
        impl<__S> ::core::ops::Deref for Session<__S> {
            type Target = __S;
            fn deref(&self) -> &__S {
                self.__live.state()
            }
        }
        impl<__S> ::core::ops::DerefMut for Session<__S> {
            fn deref_mut(&mut self) -> &mut __S {
                self.__live.state_mut()
            }
        }
        impl<__S: ::core::fmt::Debug> ::core::fmt::Debug for Session<__S> {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(self.__live.name())
                    .field("id", &self.__live.id())
                    .field("state", self.__live.state())
                    .finish()
            }
        }
        impl Session<NoConnection> {
            ///Starts a `session` machine in `NoConnection` through the `client` entrypoint.
            pub fn client(
                context: crate::session::SessionContext,
                state: NoConnection,
            ) -> Self {
                Session {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_0,
                        "client",
                        context,
                        state,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::client`], with an observer that sees this entry and every later step.
            pub fn client_observed(
                context: crate::session::SessionContext,
                state: NoConnection,
                observer: ::statebound::__private::Arc<dyn ::statebound::Observer>,
            ) -> Self {
                Session {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_0,
                        "client",
                        context,
                        state,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
            /**Takes the transition `back_off` from `NoConnection` to `BackingOff`.

`build` makes the `BackingOff` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn back_off(
                self,
                build: impl ::core::ops::FnOnce(NoConnection) -> BackingOff,
            ) -> Session<BackingOff> {
                Session {
                    __live: self
                        .__live
                        .transition("back_off", &__STATEBOUND_SPEC_1, build),
                }
            }
            #[doc(hidden)]
            pub fn connect<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> Connecting,
            ) -> Session<Connecting>
            where
                &'__statebound (): __NoConnection_connect,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn cancel<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __NoConnection_cancel,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_established<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> Handshaking,
            ) -> Session<Handshaking>
            where
                &'__statebound (): __NoConnection_connection_established,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_failed<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __NoConnection_connection_failed,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn handshake_ok<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> Connected,
            ) -> Session<Connected>
            where
                &'__statebound (): __NoConnection_handshake_ok,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_lost<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(NoConnection) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __NoConnection_connection_lost,
            {
                ::core::unreachable!()
            }
            /**Closes the machine in `NoConnection`. Runs the close hook (`close_no_connection`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::NoConnection(self)
            }
        }
        impl ::core::convert::From<Session<NoConnection>> for AnySession {
            fn from(__machine: Session<NoConnection>) -> Self {
                AnySession::NoConnection(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<NoConnection> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::NoConnection(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `connect` from state `NoConnection`",
            label = "`NoConnection` has no transition `connect`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`connect` leaves from `BackingOff`"
        )]
        pub trait __NoConnection_connect {}
        #[diagnostic::on_unimplemented(
            message = "no transition `cancel` from state `NoConnection`",
            label = "`NoConnection` has no transition `cancel`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`cancel` leaves from `BackingOff`"
        )]
        pub trait __NoConnection_cancel {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_established` from state `NoConnection`",
            label = "`NoConnection` has no transition `connection_established`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`connection_established` leaves from `Connecting`"
        )]
        pub trait __NoConnection_connection_established {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_failed` from state `NoConnection`",
            label = "`NoConnection` has no transition `connection_failed`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`connection_failed` leaves from `Connecting`"
        )]
        pub trait __NoConnection_connection_failed {}
        #[diagnostic::on_unimplemented(
            message = "no transition `handshake_ok` from state `NoConnection`",
            label = "`NoConnection` has no transition `handshake_ok`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`handshake_ok` leaves from `Handshaking`, `WaitingForHandshake`"
        )]
        pub trait __NoConnection_handshake_ok {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_lost` from state `NoConnection`",
            label = "`NoConnection` has no transition `connection_lost`",
            note = "transitions from `NoConnection`: `back_off`",
            note = "`connection_lost` leaves from `Handshaking`, `Connected`"
        )]
        pub trait __NoConnection_connection_lost {}
        impl Session<BackingOff> {
            #[doc(hidden)]
            pub fn back_off<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(BackingOff) -> BackingOff,
            ) -> Session<BackingOff>
            where
                &'__statebound (): __BackingOff_back_off,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `connect` from `BackingOff` to `Connecting`.

`build` makes the `Connecting` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn connect(
                self,
                build: impl ::core::ops::FnOnce(BackingOff) -> Connecting,
            ) -> Session<Connecting> {
                Session {
                    __live: self
                        .__live
                        .transition("connect", &__STATEBOUND_SPEC_2, build),
                }
            }
            /**Takes the transition `cancel` from `BackingOff` to `NoConnection`.

`build` makes the `NoConnection` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn cancel(
                self,
                build: impl ::core::ops::FnOnce(BackingOff) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self.__live.transition("cancel", &__STATEBOUND_SPEC_0, build),
                }
            }
            #[doc(hidden)]
            pub fn connection_established<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(BackingOff) -> Handshaking,
            ) -> Session<Handshaking>
            where
                &'__statebound (): __BackingOff_connection_established,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_failed<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(BackingOff) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __BackingOff_connection_failed,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn handshake_ok<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(BackingOff) -> Connected,
            ) -> Session<Connected>
            where
                &'__statebound (): __BackingOff_handshake_ok,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_lost<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(BackingOff) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __BackingOff_connection_lost,
            {
                ::core::unreachable!()
            }
            /**Closes the machine in `BackingOff`. Runs the close hook (`close_backing_off`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::BackingOff(self)
            }
        }
        impl ::core::convert::From<Session<BackingOff>> for AnySession {
            fn from(__machine: Session<BackingOff>) -> Self {
                AnySession::BackingOff(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<BackingOff> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::BackingOff(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `back_off` from state `BackingOff`",
            label = "`BackingOff` has no transition `back_off`",
            note = "transitions from `BackingOff`: `connect`, `cancel`",
            note = "`back_off` leaves from `NoConnection`"
        )]
        pub trait __BackingOff_back_off {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_established` from state `BackingOff`",
            label = "`BackingOff` has no transition `connection_established`",
            note = "transitions from `BackingOff`: `connect`, `cancel`",
            note = "`connection_established` leaves from `Connecting`"
        )]
        pub trait __BackingOff_connection_established {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_failed` from state `BackingOff`",
            label = "`BackingOff` has no transition `connection_failed`",
            note = "transitions from `BackingOff`: `connect`, `cancel`",
            note = "`connection_failed` leaves from `Connecting`"
        )]
        pub trait __BackingOff_connection_failed {}
        #[diagnostic::on_unimplemented(
            message = "no transition `handshake_ok` from state `BackingOff`",
            label = "`BackingOff` has no transition `handshake_ok`",
            note = "transitions from `BackingOff`: `connect`, `cancel`",
            note = "`handshake_ok` leaves from `Handshaking`, `WaitingForHandshake`"
        )]
        pub trait __BackingOff_handshake_ok {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_lost` from state `BackingOff`",
            label = "`BackingOff` has no transition `connection_lost`",
            note = "transitions from `BackingOff`: `connect`, `cancel`",
            note = "`connection_lost` leaves from `Handshaking`, `Connected`"
        )]
        pub trait __BackingOff_connection_lost {}
        impl Session<Connecting> {
            #[doc(hidden)]
            pub fn back_off<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connecting) -> BackingOff,
            ) -> Session<BackingOff>
            where
                &'__statebound (): __Connecting_back_off,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connect<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connecting) -> Connecting,
            ) -> Session<Connecting>
            where
                &'__statebound (): __Connecting_connect,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn cancel<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connecting) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Connecting_cancel,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `connection_established` from `Connecting` to `Handshaking`.

`build` makes the `Handshaking` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn connection_established(
                self,
                build: impl ::core::ops::FnOnce(Connecting) -> Handshaking,
            ) -> Session<Handshaking> {
                Session {
                    __live: self
                        .__live
                        .transition(
                            "connection_established",
                            &__STATEBOUND_SPEC_3,
                            build,
                        ),
                }
            }
            /**Takes the transition `connection_failed` from `Connecting` to `NoConnection`.

`build` makes the `NoConnection` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn connection_failed(
                self,
                build: impl ::core::ops::FnOnce(Connecting) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self
                        .__live
                        .transition("connection_failed", &__STATEBOUND_SPEC_0, build),
                }
            }
            #[doc(hidden)]
            pub fn handshake_ok<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connecting) -> Connected,
            ) -> Session<Connected>
            where
                &'__statebound (): __Connecting_handshake_ok,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_lost<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connecting) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Connecting_connection_lost,
            {
                ::core::unreachable!()
            }
            /**Closes the machine in `Connecting`. Runs the close hook (`close_connecting`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::Connecting(self)
            }
        }
        impl ::core::convert::From<Session<Connecting>> for AnySession {
            fn from(__machine: Session<Connecting>) -> Self {
                AnySession::Connecting(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<Connecting> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::Connecting(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `back_off` from state `Connecting`",
            label = "`Connecting` has no transition `back_off`",
            note = "transitions from `Connecting`: `connection_established`, `connection_failed`",
            note = "`back_off` leaves from `NoConnection`"
        )]
        pub trait __Connecting_back_off {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connect` from state `Connecting`",
            label = "`Connecting` has no transition `connect`",
            note = "transitions from `Connecting`: `connection_established`, `connection_failed`",
            note = "`connect` leaves from `BackingOff`"
        )]
        pub trait __Connecting_connect {}
        #[diagnostic::on_unimplemented(
            message = "no transition `cancel` from state `Connecting`",
            label = "`Connecting` has no transition `cancel`",
            note = "transitions from `Connecting`: `connection_established`, `connection_failed`",
            note = "`cancel` leaves from `BackingOff`"
        )]
        pub trait __Connecting_cancel {}
        #[diagnostic::on_unimplemented(
            message = "no transition `handshake_ok` from state `Connecting`",
            label = "`Connecting` has no transition `handshake_ok`",
            note = "transitions from `Connecting`: `connection_established`, `connection_failed`",
            note = "`handshake_ok` leaves from `Handshaking`, `WaitingForHandshake`"
        )]
        pub trait __Connecting_handshake_ok {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_lost` from state `Connecting`",
            label = "`Connecting` has no transition `connection_lost`",
            note = "transitions from `Connecting`: `connection_established`, `connection_failed`",
            note = "`connection_lost` leaves from `Handshaking`, `Connected`"
        )]
        pub trait __Connecting_connection_lost {}
        impl Session<Handshaking> {
            #[doc(hidden)]
            pub fn back_off<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Handshaking) -> BackingOff,
            ) -> Session<BackingOff>
            where
                &'__statebound (): __Handshaking_back_off,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connect<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Handshaking) -> Connecting,
            ) -> Session<Connecting>
            where
                &'__statebound (): __Handshaking_connect,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn cancel<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Handshaking) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Handshaking_cancel,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_established<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Handshaking) -> Handshaking,
            ) -> Session<Handshaking>
            where
                &'__statebound (): __Handshaking_connection_established,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_failed<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Handshaking) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Handshaking_connection_failed,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `handshake_ok` from `Handshaking` to `Connected`.

`build` makes the `Connected` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn handshake_ok(
                self,
                build: impl ::core::ops::FnOnce(Handshaking) -> Connected,
            ) -> Session<Connected> {
                Session {
                    __live: self
                        .__live
                        .transition("handshake_ok", &__STATEBOUND_SPEC_5, build),
                }
            }
            /**Takes the transition `connection_lost` from `Handshaking` to `NoConnection`.

`build` makes the `NoConnection` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn connection_lost(
                self,
                build: impl ::core::ops::FnOnce(Handshaking) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self
                        .__live
                        .transition("connection_lost", &__STATEBOUND_SPEC_0, build),
                }
            }
            /**Closes the machine in `Handshaking`. Runs the close hook (`close_handshaking`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::Handshaking(self)
            }
        }
        impl ::core::convert::From<Session<Handshaking>> for AnySession {
            fn from(__machine: Session<Handshaking>) -> Self {
                AnySession::Handshaking(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<Handshaking> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::Handshaking(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `back_off` from state `Handshaking`",
            label = "`Handshaking` has no transition `back_off`",
            note = "transitions from `Handshaking`: `handshake_ok`, `connection_lost`",
            note = "`back_off` leaves from `NoConnection`"
        )]
        pub trait __Handshaking_back_off {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connect` from state `Handshaking`",
            label = "`Handshaking` has no transition `connect`",
            note = "transitions from `Handshaking`: `handshake_ok`, `connection_lost`",
            note = "`connect` leaves from `BackingOff`"
        )]
        pub trait __Handshaking_connect {}
        #[diagnostic::on_unimplemented(
            message = "no transition `cancel` from state `Handshaking`",
            label = "`Handshaking` has no transition `cancel`",
            note = "transitions from `Handshaking`: `handshake_ok`, `connection_lost`",
            note = "`cancel` leaves from `BackingOff`"
        )]
        pub trait __Handshaking_cancel {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_established` from state `Handshaking`",
            label = "`Handshaking` has no transition `connection_established`",
            note = "transitions from `Handshaking`: `handshake_ok`, `connection_lost`",
            note = "`connection_established` leaves from `Connecting`"
        )]
        pub trait __Handshaking_connection_established {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_failed` from state `Handshaking`",
            label = "`Handshaking` has no transition `connection_failed`",
            note = "transitions from `Handshaking`: `handshake_ok`, `connection_lost`",
            note = "`connection_failed` leaves from `Connecting`"
        )]
        pub trait __Handshaking_connection_failed {}
        impl Session<WaitingForHandshake> {
            ///Starts a `session` machine in `WaitingForHandshake` through the `server` entrypoint.
            pub fn server(
                context: crate::session::SessionContext,
                state: WaitingForHandshake,
            ) -> Self {
                Session {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_4,
                        "server",
                        context,
                        state,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::server`], with an observer that sees this entry and every later step.
            pub fn server_observed(
                context: crate::session::SessionContext,
                state: WaitingForHandshake,
                observer: ::statebound::__private::Arc<dyn ::statebound::Observer>,
            ) -> Self {
                Session {
                    __live: ::statebound::__private::Live::enter(
                        &__STATEBOUND_SPEC_4,
                        "server",
                        context,
                        state,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
            #[doc(hidden)]
            pub fn back_off<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> BackingOff,
            ) -> Session<BackingOff>
            where
                &'__statebound (): __WaitingForHandshake_back_off,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connect<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> Connecting,
            ) -> Session<Connecting>
            where
                &'__statebound (): __WaitingForHandshake_connect,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn cancel<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __WaitingForHandshake_cancel,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_established<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> Handshaking,
            ) -> Session<Handshaking>
            where
                &'__statebound (): __WaitingForHandshake_connection_established,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_failed<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __WaitingForHandshake_connection_failed,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `handshake_ok` from `WaitingForHandshake` to `Connected`.

`build` makes the `Connected` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook runs; the context moves across unchanged.*/
            pub fn handshake_ok(
                self,
                build: impl ::core::ops::FnOnce(WaitingForHandshake) -> Connected,
            ) -> Session<Connected> {
                Session {
                    __live: self
                        .__live
                        .transition("handshake_ok", &__STATEBOUND_SPEC_5, build),
                }
            }
            #[doc(hidden)]
            pub fn connection_lost<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(WaitingForHandshake) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __WaitingForHandshake_connection_lost,
            {
                ::core::unreachable!()
            }
            /**Closes the machine in `WaitingForHandshake`. Runs the close hook (`close_waiting_for_handshake`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::WaitingForHandshake(self)
            }
        }
        impl ::core::convert::From<Session<WaitingForHandshake>> for AnySession {
            fn from(__machine: Session<WaitingForHandshake>) -> Self {
                AnySession::WaitingForHandshake(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<WaitingForHandshake> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::WaitingForHandshake(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `back_off` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `back_off`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`back_off` leaves from `NoConnection`"
        )]
        pub trait __WaitingForHandshake_back_off {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connect` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `connect`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`connect` leaves from `BackingOff`"
        )]
        pub trait __WaitingForHandshake_connect {}
        #[diagnostic::on_unimplemented(
            message = "no transition `cancel` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `cancel`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`cancel` leaves from `BackingOff`"
        )]
        pub trait __WaitingForHandshake_cancel {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_established` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `connection_established`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`connection_established` leaves from `Connecting`"
        )]
        pub trait __WaitingForHandshake_connection_established {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_failed` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `connection_failed`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`connection_failed` leaves from `Connecting`"
        )]
        pub trait __WaitingForHandshake_connection_failed {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_lost` from state `WaitingForHandshake`",
            label = "`WaitingForHandshake` has no transition `connection_lost`",
            note = "transitions from `WaitingForHandshake`: `handshake_ok`",
            note = "`connection_lost` leaves from `Handshaking`, `Connected`"
        )]
        pub trait __WaitingForHandshake_connection_lost {}
        impl Session<Connected> {
            #[doc(hidden)]
            pub fn back_off<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> BackingOff,
            ) -> Session<BackingOff>
            where
                &'__statebound (): __Connected_back_off,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connect<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> Connecting,
            ) -> Session<Connecting>
            where
                &'__statebound (): __Connected_connect,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn cancel<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Connected_cancel,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_established<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> Handshaking,
            ) -> Session<Handshaking>
            where
                &'__statebound (): __Connected_connection_established,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn connection_failed<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> NoConnection,
            ) -> Session<NoConnection>
            where
                &'__statebound (): __Connected_connection_failed,
            {
                ::core::unreachable!()
            }
            #[doc(hidden)]
            pub fn handshake_ok<'__statebound>(
                self,
                _build: impl ::core::ops::FnOnce(Connected) -> Connected,
            ) -> Session<Connected>
            where
                &'__statebound (): __Connected_handshake_ok,
            {
                ::core::unreachable!()
            }
            /**Takes the transition `connection_lost` from `Connected` to `NoConnection`.

`build` makes the `NoConnection` data from this state's data. Before it runs, the state is sealed (its handles fail from then on) and its exit hook (`exit_connected`) runs; the context moves across unchanged.*/
            pub fn connection_lost(
                self,
                build: impl ::core::ops::FnOnce(Connected) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self
                        .__live
                        .transition("connection_lost", &__STATEBOUND_SPEC_0, build),
                }
            }
            /**Closes the machine in `Connected`. Runs the close hook (`close_connected`), then returns the context.

Dropping the value closes it the same way.*/
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession {
                AnySession::Connected(self)
            }
        }
        impl ::core::convert::From<Session<Connected>> for AnySession {
            fn from(__machine: Session<Connected>) -> Self {
                AnySession::Connected(__machine)
            }
        }
        impl ::core::convert::TryFrom<AnySession> for Session<Connected> {
            type Error = AnySession;
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                match __any {
                    AnySession::Connected(__machine) => {
                        ::core::result::Result::Ok(__machine)
                    }
                    #[allow(unreachable_patterns)]
                    __other => ::core::result::Result::Err(__other),
                }
            }
        }
        #[diagnostic::on_unimplemented(
            message = "no transition `back_off` from state `Connected`",
            label = "`Connected` has no transition `back_off`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`back_off` leaves from `NoConnection`"
        )]
        pub trait __Connected_back_off {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connect` from state `Connected`",
            label = "`Connected` has no transition `connect`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`connect` leaves from `BackingOff`"
        )]
        pub trait __Connected_connect {}
        #[diagnostic::on_unimplemented(
            message = "no transition `cancel` from state `Connected`",
            label = "`Connected` has no transition `cancel`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`cancel` leaves from `BackingOff`"
        )]
        pub trait __Connected_cancel {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_established` from state `Connected`",
            label = "`Connected` has no transition `connection_established`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`connection_established` leaves from `Connecting`"
        )]
        pub trait __Connected_connection_established {}
        #[diagnostic::on_unimplemented(
            message = "no transition `connection_failed` from state `Connected`",
            label = "`Connected` has no transition `connection_failed`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`connection_failed` leaves from `Connecting`"
        )]
        pub trait __Connected_connection_failed {}
        #[diagnostic::on_unimplemented(
            message = "no transition `handshake_ok` from state `Connected`",
            label = "`Connected` has no transition `handshake_ok`",
            note = "transitions from `Connected`: `connection_lost`",
            note = "`handshake_ok` leaves from `Handshaking`, `WaitingForHandshake`"
        )]
        pub trait __Connected_handshake_ok {}
        impl AnySession {
            /// The name of the current state.
            pub fn name(&self) -> &'static str {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.name(),
                    AnySession::BackingOff(__m) => __m.__live.name(),
                    AnySession::Connecting(__m) => __m.__live.name(),
                    AnySession::Handshaking(__m) => __m.__live.name(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.name(),
                    AnySession::Connected(__m) => __m.__live.name(),
                }
            }
            /// The id of the machine instance.
            pub fn id(&self) -> ::statebound::MachineId {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.id(),
                    AnySession::BackingOff(__m) => __m.__live.id(),
                    AnySession::Connecting(__m) => __m.__live.id(),
                    AnySession::Handshaking(__m) => __m.__live.id(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.id(),
                    AnySession::Connected(__m) => __m.__live.id(),
                }
            }
            /// A handle on the current state.
            pub fn handle(&self) -> ::statebound::Handle {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.handle(),
                    AnySession::BackingOff(__m) => __m.__live.handle(),
                    AnySession::Connecting(__m) => __m.__live.handle(),
                    AnySession::Handshaking(__m) => __m.__live.handle(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.handle(),
                    AnySession::Connected(__m) => __m.__live.handle(),
                }
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &crate::session::SessionContext {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.context(),
                    AnySession::BackingOff(__m) => __m.__live.context(),
                    AnySession::Connecting(__m) => __m.__live.context(),
                    AnySession::Handshaking(__m) => __m.__live.context(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.context(),
                    AnySession::Connected(__m) => __m.__live.context(),
                }
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut crate::session::SessionContext {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.context_mut(),
                    AnySession::BackingOff(__m) => __m.__live.context_mut(),
                    AnySession::Connecting(__m) => __m.__live.context_mut(),
                    AnySession::Handshaking(__m) => __m.__live.context_mut(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.context_mut(),
                    AnySession::Connected(__m) => __m.__live.context_mut(),
                }
            }
            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            pub fn close(self) -> crate::session::SessionContext {
                match self {
                    AnySession::NoConnection(__m) => __m.__live.close(),
                    AnySession::BackingOff(__m) => __m.__live.close(),
                    AnySession::Connecting(__m) => __m.__live.close(),
                    AnySession::Handshaking(__m) => __m.__live.close(),
                    AnySession::WaitingForHandshake(__m) => __m.__live.close(),
                    AnySession::Connected(__m) => __m.__live.close(),
                }
            }
        }
        impl ::core::fmt::Debug for AnySession {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct("AnySession")
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    };
}
