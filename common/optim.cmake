# The AdamW loop only vectorises without errno semantics for sqrtf (its arguments are never < 0).
set_source_files_properties(${CMAKE_SOURCE_DIR}/common/optim.c PROPERTIES COMPILE_OPTIONS -fno-math-errno)
