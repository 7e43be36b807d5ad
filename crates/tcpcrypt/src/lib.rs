//! tcpcrypt (RFC 8548): key exchange, key schedule, framing, rekey and resumption, sans-IO.
