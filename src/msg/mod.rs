//! System V message queues: the engine.
