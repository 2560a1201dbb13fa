// HTTP helpers every route shares: JSON responses and errors, CORS, query strings,
// cookies, MIME types and static files.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "net.hpp"

namespace ssebus::server {

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using RequestParser = http::request_parser<http::string_body>;

// The limit on a request's start line and header fields; the body limit is configured.
inline constexpr std::uint32_t request_header_limit = 16 * 1024;
// Sets the limits every request is read with.
void limit_request(RequestParser& parser, std::size_t body_limit);
// The answer to a request Beast could not parse: 413 past the body limit, 431 past the
// header limit, 400 otherwise, each closing the connection. nullopt when `ec` is no parse
// error (none, the end of the stream, a request cut short, an I/O error).
std::optional<Response> unparsable_request(error_code ec, std::size_t body_limit);

Response json_response(const Request& req, http::status status, const nlohmann::json& body);
// Every error is a JSON body { "error": "..." }.
Response json_error(const Request& req, http::status status, std::string_view message);
Response text_response(const Request& req, http::status status, std::string body, std::string_view content_type);

// The CORS grant for the request's Origin, as header lines ("Name: value\r\n"), or "" when
// the origin is not allowed. An allow-list entry "*" grants any origin, but never with
// credentials; a listed origin is echoed back with credentials allowed.
std::string cors_header_lines(const Request& req, const std::vector<std::string>& allowed);
void apply_cors(Response& res, const Request& req, const std::vector<std::string>& allowed);
// The answer to a CORS preflight (OPTIONS).
Response preflight(const Request& req, const std::vector<std::string>& allowed);

// The path of the request target, percent-decoded; nullopt for a malformed target.
std::optional<std::string> request_path(const Request& req);
// A query parameter's decoded value.
std::optional<std::string> query_param(const Request& req, std::string_view name);
std::optional<std::string> cookie(const Request& req, std::string_view name);
// "Bearer <token>" from Authorization, or the X-Publisher-Key header.
std::optional<std::string> bearer_or_key(const Request& req);

std::string_view mime_type(std::string_view path);

// Serves `path` under `root`; a path that escapes the root, a directory without
// index.html or a missing file gives 404.
Response serve_static(const Request& req, const std::string& root, std::string_view path);

// Parses a decimal uint64 (digits only); nullopt otherwise.
std::optional<std::uint64_t> parse_u64(std::string_view text);

}  // namespace ssebus::server
