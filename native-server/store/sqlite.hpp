// A small RAII wrapper over SQLite's C API: a database handle and prepared statements.
// Errors throw sqlite::Error, which keeps SQLite's result code.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace ssebus::server::sqlite {

struct Error : std::runtime_error {
    Error(int code, const std::string& what) : std::runtime_error(what), code(code) {}
    int code;  // SQLite's extended result code
};

class Statement;

class Database {
public:
    // Opens (creating it if needed) `path` with the VFS named `vfs` (empty: the default).
    Database(const std::string& path, const std::string& vfs = {});
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Runs one or more statements that return no rows.
    void exec(const char* sql);
    Statement prepare(std::string_view sql);
    // The single integer a statement returns (PRAGMA application_id, count(*)...).
    std::int64_t scalar(std::string_view sql);
    // The single text a statement returns (PRAGMA journal_mode, PRAGMA quick_check).
    std::string scalar_text(std::string_view sql);
    // The file was opened read-only (write-protected): SQLite does not fail the open.
    bool read_only() const;
    bool in_transaction() const;
    std::int64_t changes() const;
    sqlite3* handle() const noexcept { return db_; }

private:
    friend class Statement;
    [[noreturn]] void fail(int code, std::string_view what) const;
    sqlite3* db_ = nullptr;
};

class Statement {
public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();
    // A statement to be assigned later (a member prepared after construction).
    static Statement empty() noexcept { return Statement(); }

    // Parameters are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind_null(int index);
    // True while there is a row; false once done. Throws on error.
    bool step();
    // Runs a statement that returns no row, then resets it.
    void run();
    void reset();

    std::int64_t integer(int column) const;
    std::string_view text(int column) const;
    bool is_null(int column) const;

private:
    friend class Database;
    Statement() noexcept = default;
    Statement(const Database& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
    const Database* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when it leaves scope, so that it does not hold a read transaction open.
class ResetOnExit {
public:
    explicit ResetOnExit(Statement& s) : s_(s) {}
    ~ResetOnExit() { s_.reset(); }
    ResetOnExit(const ResetOnExit&) = delete;
    ResetOnExit& operator=(const ResetOnExit&) = delete;

private:
    Statement& s_;
};

}  // namespace ssebus::server::sqlite
