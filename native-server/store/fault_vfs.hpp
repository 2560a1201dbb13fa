// A fault hook for tests: a SQLite VFS named "ssebus-fault" that delegates to "unix" and,
// while armed, fails every write, sync and truncate with the armed error (SQLITE_FULL,
// SQLITE_IOERR...). The store's real error path runs, as on a full or failing disk.
// Registered only by whoever calls install() (the tests); the server never does.
#pragma once

namespace ssebus::server::store::fault_vfs {

inline constexpr const char* name = "ssebus-fault";

// Registers the VFS (not as the default). Idempotent.
void install();
// Fails writes with `sqlite_error` from now on (SQLITE_FULL is 13, SQLITE_IOERR 10).
void arm(int sqlite_error);
void disarm();

}  // namespace ssebus::server::store::fault_vfs
