// UTF-8 helpers. Every string inside the engine is valid UTF-8: the model loader and the
// Python bindings check strings as they come in, so the text kernels may decode without
// re-checking and their results (built from whole code points) stay valid.
#pragma once
#include <string>
#include <string_view>

namespace walle::text {

// Well-formed UTF-8: shortest encodings only, no surrogates, nothing above U+10FFFF.
bool utf8_valid(std::string_view s);
// Code points of valid UTF-8 (invalid bytes decode as U+FFFD rather than being trusted).
std::u32string utf8_decode(std::string_view s);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(std::u32string_view s);

}  // namespace walle::text
