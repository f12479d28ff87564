//! `ripc_msg*` and the other SysV-shaped entry points.
