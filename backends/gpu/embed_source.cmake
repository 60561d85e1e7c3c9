# cmake -DOUT=<header> -DNAME=<identifier> -DINPUTS="a;b;c" -P embed_source.cmake
# Concatenates kernel sources into a C++ raw string, so a backend carries its kernels inside
# the library (no files to find at run time). Raw strings are split in chunks because some
# compilers limit the length of one literal.
set(text "")
foreach(f ${INPUTS})
  file(READ ${f} part)
  string(APPEND text "${part}\n")
endforeach()
string(LENGTH "${text}" n)
set(out "// Generated from ${INPUTS}; do not edit.\n#pragma once\nstatic const char ${NAME}[] =\n")
set(pos 0)
while(pos LESS n)
  string(SUBSTRING "${text}" ${pos} 8000 chunk)
  string(APPEND out "R\"WLSRC(${chunk})WLSRC\"\n")
  math(EXPR pos "${pos} + 8000")
endwhile()
string(APPEND out ";\n")
file(WRITE ${OUT} "${out}")
