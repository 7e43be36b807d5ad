//! TCP-ENO (RFC 8547): encryption negotiation option codec and negotiation, sans-IO.
