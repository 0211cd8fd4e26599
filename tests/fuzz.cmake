# Fuzz test for the wire decoder: tests/fuzz/fuzz_wire_decode.c built with clang's libFuzzer (plus
# ASan/UBSan) whatever CMAKE_C_COMPILER is, then run for a bounded time as the ctest test_fuzz_wire
# over the committed corpus tests/fuzz/corpus_wire (new inputs go to the build tree, never the repo).
# Without a working `clang -fsanitize=fuzzer` the test reports itself skipped (exit 77), not passed.
set(RLVR_FUZZ_SECONDS 15 CACHE STRING "Seconds test_fuzz_wire fuzzes for")
find_program(RLVR_FUZZ_CLANG NAMES clang-14 clang)
set(rlvr_fuzz_ok OFF)
if(RLVR_FUZZ_CLANG)
  set(probe ${CMAKE_BINARY_DIR}/fuzz_probe.c)
  file(WRITE ${probe} "#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
  execute_process(COMMAND ${RLVR_FUZZ_CLANG} -fsanitize=fuzzer ${probe} -o ${CMAKE_BINARY_DIR}/fuzz_probe
                  RESULT_VARIABLE probe_rc OUTPUT_QUIET ERROR_QUIET)
  if(probe_rc EQUAL 0)
    set(rlvr_fuzz_ok ON)
  endif()
endif()
message(STATUS "rlvr: libFuzzer for test_fuzz_wire: ${rlvr_fuzz_ok}")

if(rlvr_fuzz_ok)
  set(fuzz_bin ${CMAKE_BINARY_DIR}/tests/fuzz_wire_decode)
  set(fuzz_srcs ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_wire_decode.c ${CMAKE_SOURCE_DIR}/proto/wire_util.c
      ${CMAKE_SOURCE_DIR}/proto/wire_encode.c ${CMAKE_SOURCE_DIR}/proto/wire_decode.c ${CMAKE_SOURCE_DIR}/proto/wire_decode_fast.c ${CMAKE_SOURCE_DIR}/common/check.c)
  add_custom_command(OUTPUT ${fuzz_bin}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/tests
    COMMAND ${RLVR_FUZZ_CLANG} -std=c11 -O1 -g -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -I${CMAKE_SOURCE_DIR} ${MSGPACK_CFLAGS} ${fuzz_srcs} ${MSGPACK_LDFLAGS} -lm -o ${fuzz_bin}
    DEPENDS ${fuzz_srcs} ${CMAKE_SOURCE_DIR}/proto/wire.h ${CMAKE_SOURCE_DIR}/proto/wire_internal.h ${CMAKE_SOURCE_DIR}/tests/wire_compare.h ${CMAKE_SOURCE_DIR}/common/check.h
    COMMENT "Building fuzz_wire_decode with ${RLVR_FUZZ_CLANG} (libFuzzer)"
    COMMAND_EXPAND_LISTS VERBATIM)
  add_custom_target(fuzz_wire_decode ALL DEPENDS ${fuzz_bin})
  add_test(NAME test_fuzz_wire
    COMMAND bash -c "mkdir -p fuzz_work && exec '${fuzz_bin}' -max_total_time=${RLVR_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 fuzz_work '${CMAKE_SOURCE_DIR}/tests/fuzz/corpus_wire'"
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
else()
  add_test(NAME test_fuzz_wire
    COMMAND bash -c "echo 'test_fuzz_wire SKIPPED: no clang with libFuzzer (install clang and libclang-rt-14-dev, see launch/setup.sh)'; exit 77")
endif()
# The fuzzer carries its own ASan/UBSan: running it again in the sanitizer pass adds nothing.
set_tests_properties(test_fuzz_wire PROPERTIES SKIP_RETURN_CODE 77 LABELS nosan TIMEOUT 120)
