"""The call: its decisions as small pure state machines (events in, actions out, the
clock passed in), and :class:`~app.call.bridge.CallBridge`, the asyncio driver that
pumps a call's sockets through them."""
