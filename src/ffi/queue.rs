//! The native message-queue handle API.
