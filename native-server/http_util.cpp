#include "http_util.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/url.hpp>

namespace ssebus::server {

namespace fs = std::filesystem;
namespace urls = boost::urls;

Response text_response(const Request& req, http::status status, std::string body, std::string_view content_type) {
    Response res{status, req.version()};
    res.set(http::field::server, "ssebus");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = std::move(body);
    res.prepare_payload();
    // The answer to HEAD is the GET's header without its body: bytes after the header
    // would be read as the next response on a keep-alive connection.
    if (req.method() == http::verb::head) res.body().clear();
    return res;
}

Response json_response(const Request& req, http::status status, const nlohmann::json& body) {
    // Strings may hold the client's bytes (an error quoting a decoded path): invalid UTF-8
    // becomes U+FFFD rather than an exception.
    return text_response(req, status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                         "application/json");
}

Response json_error(const Request& req, http::status status, std::string_view message) {
    return json_response(req, status, nlohmann::json{{"error", message}});
}

void limit_request(RequestParser& parser, std::size_t body_limit) {
    parser.body_limit(body_limit);
    parser.header_limit(request_header_limit);
}

std::optional<Response> unparsable_request(error_code ec, std::size_t body_limit) {
    if (!ec || ec.category() != error_code(http::error::body_limit).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message)
        return std::nullopt;
    Request req;
    req.version(11);
    req.keep_alive(false);
    const bool body = ec == http::error::body_limit;
    const bool header = ec == http::error::header_limit;
    auto res = json_error(req, body ? http::status::payload_too_large
                                    : header ? http::status::request_header_fields_too_large
                                             : http::status::bad_request,
                          body ? "the request body is larger than " + std::to_string(body_limit) + " bytes"
                               : header ? std::string("the request header is too large")
                                        : "malformed HTTP request: " + ec.message());
    res.keep_alive(false);
    return res;
}

namespace {

bool origin_listed(std::string_view origin, const std::vector<std::string>& allowed) {
    for (const auto& a : allowed)
        if (a == origin) return true;
    return false;
}

// Whether the canonical `file` is `base` or under it.
bool inside(const fs::path& base, const fs::path& file) {
    const auto rel = file.lexically_relative(base);
    return !rel.empty() && *rel.begin() != "..";
}

}  // namespace

std::string cors_header_lines(const Request& req, const std::vector<std::string>& allowed) {
    const auto origin = req[http::field::origin];
    if (origin.empty()) return {};
    if (origin_listed(origin, allowed)) {
        return "Access-Control-Allow-Origin: " + std::string(origin) +
               "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
    }
    if (origin_listed("*", allowed)) return "Access-Control-Allow-Origin: *\r\n";
    return {};
}

void apply_cors(Response& res, const Request& req, const std::vector<std::string>& allowed) {
    const auto origin = req[http::field::origin];
    if (origin.empty()) return;
    if (origin_listed(origin, allowed)) {
        res.set(http::field::access_control_allow_origin, origin);
        res.set(http::field::access_control_allow_credentials, "true");
        res.set(http::field::vary, "Origin");
    } else if (origin_listed("*", allowed)) {
        res.set(http::field::access_control_allow_origin, "*");
    }
}

Response preflight(const Request& req, const std::vector<std::string>& allowed) {
    Response res{http::status::no_content, req.version()};
    res.set(http::field::server, "ssebus");
    res.keep_alive(req.keep_alive());
    apply_cors(res, req, allowed);
    if (res.find(http::field::access_control_allow_origin) != res.end()) {
        res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
        res.set(http::field::access_control_allow_headers,
                "Authorization, Content-Type, Last-Event-ID, X-Publisher-Key, Mux-Signature");
        res.set(http::field::access_control_max_age, "600");
    }
    res.prepare_payload();
    return res;
}

std::optional<std::string> request_path(const Request& req) {
    auto parsed = urls::parse_origin_form(req.target());
    if (!parsed) return std::nullopt;
    return std::string(parsed->path());  // decoded
}

std::optional<std::string> query_param(const Request& req, std::string_view name) {
    auto parsed = urls::parse_origin_form(req.target());
    if (!parsed) return std::nullopt;
    const auto params = parsed->params();
    const auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    return std::string((*it).value);
}

std::optional<std::string> cookie(const Request& req, std::string_view name) {
    const auto header = req[http::field::cookie];
    std::size_t pos = 0;
    while (pos < header.size()) {
        auto end = header.find(';', pos);
        if (end == std::string_view::npos) end = header.size();
        auto item = header.substr(pos, end - pos);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        const auto eq = item.find('=');
        if (eq != std::string_view::npos && item.substr(0, eq) == name) return std::string(item.substr(eq + 1));
        pos = end + 1;
    }
    return std::nullopt;
}

std::optional<std::string> bearer_or_key(const Request& req) {
    const auto auth = req[http::field::authorization];
    constexpr std::string_view bearer = "Bearer ";
    // The scheme is case-insensitive (RFC 9110 11.1).
    if (auth.size() > bearer.size() && beast::iequals(auth.substr(0, bearer.size()), bearer))
        return std::string(auth.substr(bearer.size()));
    const auto key = req["X-Publisher-Key"];
    if (!key.empty()) return std::string(key);
    return std::nullopt;
}

std::string_view mime_type(std::string_view path) {
    const auto dot = path.rfind('.');
    const auto ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot);
    if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".json" || ext == ".map") return "application/json";
    if (ext == ".wasm") return "application/wasm";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".png") return "image/png";
    if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
    if (ext == ".gif") return "image/gif";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".webp") return "image/webp";
    if (ext == ".woff2") return "font/woff2";
    if (ext == ".woff") return "font/woff";
    if (ext == ".txt") return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

Response serve_static(const Request& req, const std::string& root, std::string_view path) {
    if (path.find('\0') != std::string_view::npos) return json_error(req, http::status::not_found, "not found");
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(root, ec);
    if (ec) return json_error(req, http::status::not_found, "not found");
    fs::path file = fs::weakly_canonical(base / fs::path(std::string(path)).relative_path(), ec);
    // The canonical path must stay inside the root: "..", symlinks out and absolute paths end here.
    if (ec || !inside(base, file)) return json_error(req, http::status::not_found, "not found");
    if (fs::is_directory(file, ec)) file /= "index.html";
    // weakly_canonical() resolves symlinks only in the part of a path that exists, so
    // "missing/../link" is left as the link; and index.html may be a link too. What is
    // opened is resolved in full and checked again.
    file = fs::canonical(file, ec);
    if (ec || !inside(base, file)) return json_error(req, http::status::not_found, "not found");
    std::ifstream in(file, std::ios::binary);
    if (!in || !fs::is_regular_file(file, ec)) return json_error(req, http::status::not_found, "not found");
    std::ostringstream body;
    body << in.rdbuf();
    Response res = text_response(req, http::status::ok, std::move(body).str(), mime_type(file.string()));
    // Vite names built assets by content hash; everything else is revalidated.
    const bool hashed = file.string().find("/assets/") != std::string::npos;
    res.set(http::field::cache_control, hashed ? "public, max-age=31536000, immutable" : "no-cache");
    return res;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
    return v;
}

}  // namespace ssebus::server
