// A fault hook for tests: a SQLite VFS named "ssebus-fault" that delegates to "unix" and,
// while armed, fails every write, sync and truncate with the armed error (SQLITE_FULL,
// SQLITE_IOERR...). The store's real error path runs, as on a full or failing disk.
// Built into the tests only (tests/cpp), and registered by whoever calls install().
#pragma once

#include <chrono>

namespace ssebus::server::store::fault_vfs {

inline constexpr const char* name = "ssebus-fault";

// Registers the VFS (not as the default). Idempotent.
void install();
// Fails writes with `sqlite_error` from now on (SQLITE_FULL is 13, SQLITE_IOERR 10).
void arm(int sqlite_error);
void disarm();
// Makes every write take `delay` longer (0: as fast as the disk), so that appends queue up.
void slow_writes(std::chrono::milliseconds delay);

}  // namespace ssebus::server::store::fault_vfs
