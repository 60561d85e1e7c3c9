// The text algorithms behind the Text atomic op, independent of tensors and kernels:
// Unicode case mapping, splitting, and numbers to and from text.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace walle::text {

// str.upper() / str.lower() of Python, code point by code point (case_table.inc), so
// "straße" upper-cases to "STRASSE" as in the ONNX reference. Not applied: the context rule
// that lowers a word-final capital sigma to final sigma.
std::string to_upper(std::string_view s);
std::string to_lower(std::string_view s);

// One code point's single code point mapping (itself when there is none or when the full
// mapping is longer, like "ß" -> "SS"): case-insensitive regular expressions fold with these.
char32_t simple_upper(char32_t c);
char32_t simple_lower(char32_t c);

// Python's str.isspace() for one code point (the whitespace of str.split()).
bool is_space(char32_t cp);

// Python's str.split(sep, maxsplit): with an empty `sep`, runs of whitespace separate the
// parts and leading/trailing whitespace yields none; otherwise every occurrence of `sep`
// splits, so adjacent separators give empty parts. maxsplit < 0: no limit.
std::vector<std::string_view> split(std::string_view s, std::string_view sep, int64_t maxsplit);

// numpy's `astype(str)` of one number: the shortest text that reads back to the same value
// of that type, positional for 1e-4 <= |x| < 1e16 ("0.1", "100.0", "-0.0") and scientific
// otherwise ("1e-05", "1.5e+16"); "nan", "inf", "-inf".
std::string format_float(double value, int significant_bits);  // 53 double, 24 float, 11 half, 8 bfloat16
// Reads a number as ONNX Cast from string does: optional surrounding whitespace, decimal or
// scientific notation, and "inf"/"+inf"/"-inf"/"infinity"/"nan" in any case. False if `s`
// is not such a number.
bool parse_double(std::string_view s, double* out);
// An integer literal ("-12", "+7"); false if `s` is not one or it overflows int64.
bool parse_int64(std::string_view s, int64_t* out);

}  // namespace walle::text
