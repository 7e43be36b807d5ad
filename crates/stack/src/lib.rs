//! User-space TCP/IP engine built on `smoltcp::wire`, with the TCP-ENO hook, sans-IO.
