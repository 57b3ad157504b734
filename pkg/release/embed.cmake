# Turn source files into one C array, in the order given:
#   cmake "-DIN=a.erl;b.erl" -DOUT=file.c -DNAME=sym -P embed.cmake
set(body "")
foreach(f ${IN})
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," part "${hex}")
  string(APPEND body "${part}")
endforeach()
file(WRITE ${OUT} "/* generated from ${IN}: do not edit */\n#include <stddef.h>\n"
  "const char ${NAME}[] = {${body}0};\n"
  "const size_t ${NAME}_len = sizeof ${NAME} - 1;\n")
