#include "fault_vfs.hpp"

#include <sqlite3.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace ssebus::server::store::fault_vfs {

namespace {

std::atomic<int> armed{SQLITE_OK};
std::atomic<long> write_delay_ms{0};
sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs shim{};
sqlite3_io_methods methods{};

// Our file, with the real one right behind it (szOsFile covers both).
struct File {
    sqlite3_file base;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

File* of(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
const sqlite3_io_methods& real_methods(sqlite3_file* f) { return *of(f)->real()->pMethods; }

int x_close(sqlite3_file* f) { return real_methods(f).xClose(of(f)->real()); }
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) { return real_methods(f).xRead(of(f)->real(), p, n, off); }
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
    if (const int e = armed.load(); e != SQLITE_OK) return e == SQLITE_IOERR ? SQLITE_IOERR_WRITE : e;
    if (const long ms = write_delay_ms.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return real_methods(f).xWrite(of(f)->real(), p, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
    if (const int e = armed.load(); e != SQLITE_OK) return e == SQLITE_IOERR ? SQLITE_IOERR_TRUNCATE : e;
    return real_methods(f).xTruncate(of(f)->real(), size);
}
int x_sync(sqlite3_file* f, int flags) {
    if (const int e = armed.load(); e != SQLITE_OK) return e == SQLITE_IOERR ? SQLITE_IOERR_FSYNC : e;
    return real_methods(f).xSync(of(f)->real(), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_methods(f).xFileSize(of(f)->real(), size); }
int x_lock(sqlite3_file* f, int level) { return real_methods(f).xLock(of(f)->real(), level); }
int x_unlock(sqlite3_file* f, int level) { return real_methods(f).xUnlock(of(f)->real(), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) { return real_methods(f).xCheckReservedLock(of(f)->real(), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real_methods(f).xFileControl(of(f)->real(), op, arg); }
int x_sector_size(sqlite3_file* f) { return real_methods(f).xSectorSize(of(f)->real()); }
int x_device_characteristics(sqlite3_file* f) { return real_methods(f).xDeviceCharacteristics(of(f)->real()); }
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** p) {
    return real_methods(f).xShmMap(of(f)->real(), region, size, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) { return real_methods(f).xShmLock(of(f)->real(), offset, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real_methods(f).xShmBarrier(of(f)->real()); }
int x_shm_unmap(sqlite3_file* f, int del) { return real_methods(f).xShmUnmap(of(f)->real(), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) { return real_methods(f).xFetch(of(f)->real(), off, n, p); }
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real_methods(f).xUnfetch(of(f)->real(), off, p); }

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* file = of(f);
    const int rc = real_vfs->xOpen(real_vfs, name, file->real(), flags, out_flags);
    // SQLite calls xClose only when pMethods is set: leave it null when the open failed.
    file->base.pMethods = file->real()->pMethods ? &methods : nullptr;
    return rc;
}
int x_delete(sqlite3_vfs*, const char* name, int sync) { return real_vfs->xDelete(real_vfs, name, sync); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return real_vfs->xAccess(real_vfs, name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) { return real_vfs->xFullPathname(real_vfs, name, n, out); }
void* x_dl_open(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void x_dl_error(sqlite3_vfs*, int n, char* out) { real_vfs->xDlError(real_vfs, n, out); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return real_vfs->xDlSym(real_vfs, h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { real_vfs->xDlClose(real_vfs, h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return real_vfs->xRandomness(real_vfs, n, out); }
int x_sleep(sqlite3_vfs*, int us) { return real_vfs->xSleep(real_vfs, us); }
int x_current_time(sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return real_vfs->xGetLastError(real_vfs, n, out); }
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) { return real_vfs->xCurrentTimeInt64(real_vfs, out); }

}  // namespace

void install() {
    static std::once_flag once;
    std::call_once(once, [] {
        real_vfs = sqlite3_vfs_find("unix");
        methods = sqlite3_io_methods{
            3, x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved_lock,
            x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock, x_shm_barrier,
            x_shm_unmap, x_fetch, x_unfetch};
        shim.iVersion = 2;
        shim.szOsFile = static_cast<int>(sizeof(File)) + real_vfs->szOsFile;
        shim.mxPathname = real_vfs->mxPathname;
        shim.zName = name;
        shim.xOpen = x_open;
        shim.xDelete = x_delete;
        shim.xAccess = x_access;
        shim.xFullPathname = x_full_pathname;
        shim.xDlOpen = x_dl_open;
        shim.xDlError = x_dl_error;
        shim.xDlSym = x_dl_sym;
        shim.xDlClose = x_dl_close;
        shim.xRandomness = x_randomness;
        shim.xSleep = x_sleep;
        shim.xCurrentTime = x_current_time;
        shim.xGetLastError = x_get_last_error;
        shim.xCurrentTimeInt64 = x_current_time_int64;
        sqlite3_vfs_register(&shim, 0);
    });
}

void arm(int sqlite_error) {
    armed.store(sqlite_error);
}

void disarm() {
    armed.store(SQLITE_OK);
}

void slow_writes(std::chrono::milliseconds delay) {
    write_delay_ms.store(static_cast<long>(delay.count()));
}

}  // namespace ssebus::server::store::fault_vfs
