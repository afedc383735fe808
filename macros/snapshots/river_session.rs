/// The session graph: states, entrypoints, transitions and hooks.
pub mod session {
    use tokio::time::Instant;
    use crate::session::{CloseCode, Connection, SessionContext};
    /// No connection: the session waits, until its grace deadline, for one.
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`back_off`](Session::back_off) (to `BackingOff`); or closed with [`close`](Session::close) or by dropping the machine.
    pub struct NoConnection;
    /// Waiting out the backoff before the next connection attempt (client).
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`connect`](Session::connect) (to `Connecting`), [`cancel`](Session::cancel) (to `NoConnection`); or closed with [`close`](Session::close) or by dropping the machine.
    pub struct BackingOff {
        /// When the attempt starts.
        pub until: Instant,
    }
    /// Dialling the server, bounded by the connection timeout (client). The dial itself runs
    /// outside the session and reports back with this state's handle; a dial that reports after
    /// the state was left finds the handle stale and its connection is closed.
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`connection_established`](Session::connection_established) (to `Handshaking`), [`connection_failed`](Session::connection_failed) (to `NoConnection`); or closed with [`close`](Session::close) or by dropping the machine.
    pub struct Connecting {
        /// When the dial is given up.
        pub deadline: Instant,
    }
    /// Connected; handshake request sent, waiting for the response (client).
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`handshake_ok`](Session::handshake_ok) (to `Connected`), [`connection_lost`](Session::connection_lost) (to `NoConnection`); or closed with [`close`](Session::close) or by dropping the machine.
    pub struct Handshaking {
        /// The connection being handshaken.
        pub conn: Box<dyn Connection>,
    }
    /// A fresh connection that has not completed its handshake yet (server).
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`handshake_ok`](Session::handshake_ok) (to `Connected`); or closed with [`close`](Session::close) or by dropping the machine.
    pub struct WaitingForHandshake {
        /// The connection.
        pub conn: Box<dyn Connection>,
        /// Whether the request arrived and is being decided on; no more frames are read until
        /// the decision.
        pub request_received: bool,
    }
    /// Handshake done: messages flow, heartbeats keep the connection alive (both roles).
    #[derive(Debug)]
    ///
    ///A state of [`Session`]: left by [`connection_lost`](Session::connection_lost) (to `NoConnection`); or closed with [`close`](Session::close) or by dropping the machine.
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

Start one with an entrypoint constructor (`Session::client`, `Session::server`); move it with the transition methods of its state; end it with `close` or by dropping it. Each state runs its exit hook once when a transition leaves it and its close hook once when the machine ends in it. A machine cannot be cloned: it is one live instance.

| state | entered by | left by | closes |
|---|---|---|---|
| `NoConnection` | `client` | `back_off` to `BackingOff` | yes, runs `close_no_connection` |
| `BackingOff` | - | `connect` to `Connecting`, `cancel` to `NoConnection` | yes, runs `close_backing_off` |
| `Connecting` | - | `connection_established` to `Handshaking`, `connection_failed` to `NoConnection` | yes, runs `close_connecting` |
| `Handshaking` | - | `handshake_ok` to `Connected`, `connection_lost` to `NoConnection` | yes, runs `close_handshaking` |
| `WaitingForHandshake` | `server` | `handshake_ok` to `Connected` | yes, runs `close_waiting_for_handshake` |
| `Connected` | - | `connection_lost` to `NoConnection` | yes, runs `close_connected` |
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
    pub struct Session<S> {
        __live: ::statebound::__private::Live<S, crate::session::SessionContext>,
    }
    ///Whichever state a `session` machine is in, for code that stores machines whose state varies (see [`Slot`](statebound::Slot) to advance one in place).
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
    ///The declared graph of the `session` machine. Render it with [`Graph::to_mermaid`](statebound::Graph::to_mermaid) or [`Graph::to_dot`](statebound::Graph::to_dot).
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
        name: "session",
        states: &[
            ::statebound::__private::state_info(
                "NoConnection",
                "No connection: the session waits, until its grace deadline, for one.",
                "",
                "close_no_connection",
                false,
            ),
            ::statebound::__private::state_info(
                "BackingOff",
                "Waiting out the backoff before the next connection attempt (client).",
                "",
                "close_backing_off",
                false,
            ),
            ::statebound::__private::state_info(
                "Connecting",
                "Dialling the server, bounded by the connection timeout (client). The dial itself runs",
                "",
                "close_connecting",
                false,
            ),
            ::statebound::__private::state_info(
                "Handshaking",
                "Connected; handshake request sent, waiting for the response (client).",
                "",
                "close_handshaking",
                false,
            ),
            ::statebound::__private::state_info(
                "WaitingForHandshake",
                "A fresh connection that has not completed its handshake yet (server).",
                "",
                "close_waiting_for_handshake",
                false,
            ),
            ::statebound::__private::state_info(
                "Connected",
                "Handshake done: messages flow, heartbeats keep the connection alive (both roles).",
                "exit_connected",
                "close_connected",
                false,
            ),
        ],
        entrypoints: &[
            ::statebound::__private::entrypoint("client", "NoConnection"),
            ::statebound::__private::entrypoint("server", "WaitingForHandshake"),
        ],
        transitions: &[
            ::statebound::__private::edge("back_off", "NoConnection", "BackingOff"),
            ::statebound::__private::edge("connect", "BackingOff", "Connecting"),
            ::statebound::__private::edge("cancel", "BackingOff", "NoConnection"),
            ::statebound::__private::edge(
                "connection_established",
                "Connecting",
                "Handshaking",
            ),
            ::statebound::__private::edge(
                "connection_failed",
                "Connecting",
                "NoConnection",
            ),
            ::statebound::__private::edge("handshake_ok", "Handshaking", "Connected"),
            ::statebound::__private::edge(
                "connection_lost",
                "Handshaking",
                "NoConnection",
            ),
            ::statebound::__private::edge(
                "handshake_ok",
                "WaitingForHandshake",
                "Connected",
            ),
            ::statebound::__private::edge("connection_lost", "Connected", "NoConnection"),
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
        type __L<S> = <S as __sb::State<crate::session::SessionContext>>::Transitions;
        pub enum back_off {}
        pub enum connect {}
        pub enum cancel {}
        pub enum connection_established {}
        pub enum connection_failed {}
        pub enum handshake_ok {}
        pub enum connection_lost {}
        #[inline]
        fn __into_slot(
            __any: AnySession,
            __slot: &mut dyn ::core::any::Any,
        ) -> ::core::option::Option<AnySession> {
            match __any {
                AnySession::NoConnection(__m) => {
                    __sb::put(__slot, __m, AnySession::NoConnection)
                }
                AnySession::BackingOff(__m) => {
                    __sb::put(__slot, __m, AnySession::BackingOff)
                }
                AnySession::Connecting(__m) => {
                    __sb::put(__slot, __m, AnySession::Connecting)
                }
                AnySession::Handshaking(__m) => {
                    __sb::put(__slot, __m, AnySession::Handshaking)
                }
                AnySession::WaitingForHandshake(__m) => {
                    __sb::put(__slot, __m, AnySession::WaitingForHandshake)
                }
                AnySession::Connected(__m) => {
                    __sb::put(__slot, __m, AnySession::Connected)
                }
            }
        }
        impl<
            S: __sb::State<crate::session::SessionContext> + 'static,
        > ::core::convert::TryFrom<AnySession> for Session<S> {
            type Error = AnySession;
            #[inline]
            fn try_from(__any: AnySession) -> ::core::result::Result<Self, AnySession> {
                __sb::take(__any, __into_slot)
            }
        }
        impl<S> Session<S> {
            /// A handle on the current state: it fails once the machine leaves this state.
            pub fn handle(&self) -> __sb::Handle {
                self.__live.core.handle()
            }
            /// The context carried across transitions.
            pub fn context(&self) -> &crate::session::SessionContext {
                self.__live.core.context()
            }
            /// The context carried across transitions, mutably.
            pub fn context_mut(&mut self) -> &mut crate::session::SessionContext {
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
            ///Wraps this machine in [`AnySession`].
            pub fn into_any(self) -> AnySession
            where
                AnySession: ::core::convert::From<Self>,
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
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Close<S, __L<S>>,
        {
            ///Closes the machine: runs the state's close hook, then returns the context. Dropping the machine closes it the same way; transient states have no `close`.
            pub fn close(self) -> crate::session::SessionContext {
                self.__live.close()
            }
        }
        impl<S> ::core::ops::Deref for Session<S> {
            type Target = S;
            fn deref(&self) -> &S {
                self.__live.state()
            }
        }
        impl<S> ::core::ops::DerefMut for Session<S> {
            fn deref_mut(&mut self) -> &mut S {
                self.__live.state_mut()
            }
        }
        impl<S: ::core::fmt::Debug> ::core::fmt::Debug for Session<S> {
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct(self.__live.core.name())
                    .field("id", &self.__live.core.id())
                    .field("state", self.__live.state())
                    .finish()
            }
        }
        impl __sb::State<crate::session::SessionContext> for NoConnection {
            type Transitions = back_off;
            const NAME: &'static str = "NoConnection";
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_no_connection(
                __state,
                __context,
            ));
        }
        impl __sb::Close<NoConnection, __L<NoConnection>> for Session<NoConnection> {}
        impl ::core::convert::From<Session<NoConnection>> for AnySession {
            #[inline]
            fn from(__machine: Session<NoConnection>) -> Self {
                AnySession::NoConnection(__machine)
            }
        }
        impl Session<NoConnection> {
            ///Starts a `session` machine in `NoConnection` through the `client` entrypoint.
            #[inline]
            pub fn client(
                context: crate::session::SessionContext,
                state: NoConnection,
            ) -> Self {
                Session {
                    __live: __sb::Live::enter(
                        "session",
                        "client",
                        "NoConnection",
                        context,
                        state,
                        <NoConnection as __sb::State<
                            crate::session::SessionContext,
                        >>::CLOSE,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::client`], with an observer that sees this entry and every later step.
            #[inline]
            pub fn client_observed(
                context: crate::session::SessionContext,
                state: NoConnection,
                observer: __sb::Arc<dyn __sb::Observer>,
            ) -> Self {
                Session {
                    __live: __sb::Live::enter(
                        "session",
                        "client",
                        "NoConnection",
                        context,
                        state,
                        <NoConnection as __sb::State<
                            crate::session::SessionContext,
                        >>::CLOSE,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
        }
        impl __sb::State<crate::session::SessionContext> for BackingOff {
            type Transitions = (connect, cancel);
            const NAME: &'static str = "BackingOff";
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_backing_off(
                __state,
                __context,
            ));
        }
        impl __sb::Close<BackingOff, __L<BackingOff>> for Session<BackingOff> {}
        impl ::core::convert::From<Session<BackingOff>> for AnySession {
            #[inline]
            fn from(__machine: Session<BackingOff>) -> Self {
                AnySession::BackingOff(__machine)
            }
        }
        impl __sb::State<crate::session::SessionContext> for Connecting {
            type Transitions = (connection_established, connection_failed);
            const NAME: &'static str = "Connecting";
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_connecting(
                __state,
                __context,
            ));
        }
        impl __sb::Close<Connecting, __L<Connecting>> for Session<Connecting> {}
        impl ::core::convert::From<Session<Connecting>> for AnySession {
            #[inline]
            fn from(__machine: Session<Connecting>) -> Self {
                AnySession::Connecting(__machine)
            }
        }
        impl __sb::State<crate::session::SessionContext> for Handshaking {
            type Transitions = (handshake_ok, connection_lost);
            const NAME: &'static str = "Handshaking";
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_handshaking(
                __state,
                __context,
            ));
        }
        impl __sb::Close<Handshaking, __L<Handshaking>> for Session<Handshaking> {}
        impl ::core::convert::From<Session<Handshaking>> for AnySession {
            #[inline]
            fn from(__machine: Session<Handshaking>) -> Self {
                AnySession::Handshaking(__machine)
            }
        }
        impl __sb::State<crate::session::SessionContext> for WaitingForHandshake {
            type Transitions = handshake_ok;
            const NAME: &'static str = "WaitingForHandshake";
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_waiting_for_handshake(
                __state,
                __context,
            ));
        }
        impl __sb::Close<WaitingForHandshake, __L<WaitingForHandshake>>
        for Session<WaitingForHandshake> {}
        impl ::core::convert::From<Session<WaitingForHandshake>> for AnySession {
            #[inline]
            fn from(__machine: Session<WaitingForHandshake>) -> Self {
                AnySession::WaitingForHandshake(__machine)
            }
        }
        impl Session<WaitingForHandshake> {
            ///Starts a `session` machine in `WaitingForHandshake` through the `server` entrypoint.
            #[inline]
            pub fn server(
                context: crate::session::SessionContext,
                state: WaitingForHandshake,
            ) -> Self {
                Session {
                    __live: __sb::Live::enter(
                        "session",
                        "server",
                        "WaitingForHandshake",
                        context,
                        state,
                        <WaitingForHandshake as __sb::State<
                            crate::session::SessionContext,
                        >>::CLOSE,
                        ::core::option::Option::None,
                    ),
                }
            }
            ///Like [`Self::server`], with an observer that sees this entry and every later step.
            #[inline]
            pub fn server_observed(
                context: crate::session::SessionContext,
                state: WaitingForHandshake,
                observer: __sb::Arc<dyn __sb::Observer>,
            ) -> Self {
                Session {
                    __live: __sb::Live::enter(
                        "session",
                        "server",
                        "WaitingForHandshake",
                        context,
                        state,
                        <WaitingForHandshake as __sb::State<
                            crate::session::SessionContext,
                        >>::CLOSE,
                        ::core::option::Option::Some(observer),
                    ),
                }
            }
        }
        impl __sb::State<crate::session::SessionContext> for Connected {
            type Transitions = connection_lost;
            const NAME: &'static str = "Connected";
            const EXIT: ::core::option::Option<
                fn(&mut Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| exit_connected(
                __state,
                __context,
            ));
            const CLOSE: ::core::option::Option<
                fn(Self, &mut crate::session::SessionContext),
            > = ::core::option::Option::Some(|__state, __context| close_connected(
                __state,
                __context,
            ));
        }
        impl __sb::Close<Connected, __L<Connected>> for Session<Connected> {}
        impl ::core::convert::From<Session<Connected>> for AnySession {
            #[inline]
            fn from(__machine: Session<Connected>) -> Self {
                AnySession::Connected(__machine)
            }
        }
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<back_off, S, NoConnection, BackingOff, __L<S>>,
        {
            ///Takes the transition `back_off`: from `NoConnection` to `BackingOff`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn back_off(
                self,
                build: impl ::core::ops::FnOnce(S) -> BackingOff,
            ) -> Session<BackingOff> {
                Session {
                    __live: self.__live.transition("back_off", build),
                }
            }
        }
        impl __sb::Edge<back_off, NoConnection, NoConnection, BackingOff, back_off>
        for Session<NoConnection> {
            type To = BackingOff;
        }
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<connect, S, BackingOff, Connecting, __L<S>>,
        {
            ///Takes the transition `connect`: from `BackingOff` to `Connecting`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn connect(
                self,
                build: impl ::core::ops::FnOnce(S) -> Connecting,
            ) -> Session<Connecting> {
                Session {
                    __live: self.__live.transition("connect", build),
                }
            }
        }
        impl __sb::Edge<connect, BackingOff, BackingOff, Connecting, (connect, cancel)>
        for Session<BackingOff> {
            type To = Connecting;
        }
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<cancel, S, BackingOff, NoConnection, __L<S>>,
        {
            ///Takes the transition `cancel`: from `BackingOff` to `NoConnection`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn cancel(
                self,
                build: impl ::core::ops::FnOnce(S) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self.__live.transition("cancel", build),
                }
            }
        }
        impl __sb::Edge<cancel, BackingOff, BackingOff, NoConnection, (connect, cancel)>
        for Session<BackingOff> {
            type To = NoConnection;
        }
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<connection_established, S, Connecting, Handshaking, __L<S>>,
        {
            ///Takes the transition `connection_established`: from `Connecting` to `Handshaking`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn connection_established(
                self,
                build: impl ::core::ops::FnOnce(S) -> Handshaking,
            ) -> Session<Handshaking> {
                Session {
                    __live: self.__live.transition("connection_established", build),
                }
            }
        }
        impl __sb::Edge<
            connection_established,
            Connecting,
            Connecting,
            Handshaking,
            (connection_established, connection_failed),
        > for Session<Connecting> {
            type To = Handshaking;
        }
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<connection_failed, S, Connecting, NoConnection, __L<S>>,
        {
            ///Takes the transition `connection_failed`: from `Connecting` to `NoConnection`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn connection_failed(
                self,
                build: impl ::core::ops::FnOnce(S) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self.__live.transition("connection_failed", build),
                }
            }
        }
        impl __sb::Edge<
            connection_failed,
            Connecting,
            Connecting,
            NoConnection,
            (connection_established, connection_failed),
        > for Session<Connecting> {
            type To = NoConnection;
        }
        type __from_handshake_ok = (Handshaking, WaitingForHandshake);
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<handshake_ok, S, __from_handshake_ok, Connected, __L<S>>,
        {
            ///Takes the transition `handshake_ok`: from `Handshaking` to `Connected`, from `WaitingForHandshake` to `Connected`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn handshake_ok(
                self,
                build: impl ::core::ops::FnOnce(S) -> Connected,
            ) -> Session<Connected> {
                Session {
                    __live: self.__live.transition("handshake_ok", build),
                }
            }
        }
        impl __sb::Edge<
            handshake_ok,
            Handshaking,
            __from_handshake_ok,
            Connected,
            (handshake_ok, connection_lost),
        > for Session<Handshaking> {
            type To = Connected;
        }
        impl __sb::Edge<
            handshake_ok,
            WaitingForHandshake,
            __from_handshake_ok,
            Connected,
            handshake_ok,
        > for Session<WaitingForHandshake> {
            type To = Connected;
        }
        type __from_connection_lost = (Handshaking, Connected);
        impl<S: __sb::State<crate::session::SessionContext>> Session<S>
        where
            Self: __sb::Edge<
                connection_lost,
                S,
                __from_connection_lost,
                NoConnection,
                __L<S>,
            >,
        {
            ///Takes the transition `connection_lost`: from `Handshaking` to `NoConnection`, from `Connected` to `NoConnection`. `build` makes the new state's data from this one's, after the exit hook ran; the context moves across unchanged.
            pub fn connection_lost(
                self,
                build: impl ::core::ops::FnOnce(S) -> NoConnection,
            ) -> Session<NoConnection> {
                Session {
                    __live: self.__live.transition("connection_lost", build),
                }
            }
        }
        impl __sb::Edge<
            connection_lost,
            Handshaking,
            __from_connection_lost,
            NoConnection,
            (handshake_ok, connection_lost),
        > for Session<Handshaking> {
            type To = NoConnection;
        }
        impl __sb::Edge<
            connection_lost,
            Connected,
            __from_connection_lost,
            NoConnection,
            connection_lost,
        > for Session<Connected> {
            type To = NoConnection;
        }
        impl __sb::AnyMachine<crate::session::SessionContext> for AnySession {
            #[inline]
            fn __core(&self) -> &__sb::Core<crate::session::SessionContext> {
                match self {
                    AnySession::NoConnection(__m) => &__m.__live.core,
                    AnySession::BackingOff(__m) => &__m.__live.core,
                    AnySession::Connecting(__m) => &__m.__live.core,
                    AnySession::Handshaking(__m) => &__m.__live.core,
                    AnySession::WaitingForHandshake(__m) => &__m.__live.core,
                    AnySession::Connected(__m) => &__m.__live.core,
                }
            }
            #[inline]
            fn __core_mut(&mut self) -> &mut __sb::Core<crate::session::SessionContext> {
                match self {
                    AnySession::NoConnection(__m) => &mut __m.__live.core,
                    AnySession::BackingOff(__m) => &mut __m.__live.core,
                    AnySession::Connecting(__m) => &mut __m.__live.core,
                    AnySession::Handshaking(__m) => &mut __m.__live.core,
                    AnySession::WaitingForHandshake(__m) => &mut __m.__live.core,
                    AnySession::Connected(__m) => &mut __m.__live.core,
                }
            }
            #[inline]
            fn __close(self) -> crate::session::SessionContext {
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
        impl AnySession {
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
            pub fn context(&self) -> &crate::session::SessionContext {
                __sb::AnyMachine::__core(self).context()
            }
            /// The context carried across transitions, mutably.
            #[inline]
            pub fn context_mut(&mut self) -> &mut crate::session::SessionContext {
                __sb::AnyMachine::__core_mut(self).context_mut()
            }
            /// Closes the machine in whatever state it is in (transient states included, as
            /// dropping would) and returns the context.
            #[inline]
            pub fn close(self) -> crate::session::SessionContext {
                __sb::AnyMachine::__close(self)
            }
        }
        impl ::core::fmt::Debug for AnySession {
            #[inline]
            fn fmt(&self, __f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                __f.debug_struct("AnySession")
                    .field("state", &self.name())
                    .field("id", &self.id())
                    .finish()
            }
        }
    };
}
