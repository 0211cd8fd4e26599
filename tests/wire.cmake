# Wire / coordinator test helpers (included at the end of CMakeLists.txt).
#   wire_test_peer   scripted protocol peer that test_coord starts and SIGKILLs
#   coord_test_server  the real coordinator behind a tiny CLI, for tests/test_interop.py
#   bench_wire       tests/bench/bench_wire.c (not a test)
#   bench_wire_decode  tests/bench/bench_wire_decode.c: in-process decode timing (not a test)
add_executable(wire_test_peer ${CMAKE_SOURCE_DIR}/tests/wire_test_peer.c)
target_link_libraries(wire_test_peer PRIVATE rlvr_core)
set_target_properties(wire_test_peer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

add_executable(coord_test_server ${CMAKE_SOURCE_DIR}/tests/coord_test_server.c)
target_link_libraries(coord_test_server PRIVATE rlvr_core)
set_target_properties(coord_test_server PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)

if(TARGET test_coord)
  target_compile_definitions(test_coord PRIVATE RLVR_WIRE_TEST_PEER="$<TARGET_FILE:wire_test_peer>")
  add_dependencies(test_coord wire_test_peer)
  set_tests_properties(test_coord PROPERTIES TIMEOUT 120)
endif()
if(TEST test_interop)
  set_tests_properties(test_interop PROPERTIES TIMEOUT 120)
  set_property(TEST test_interop APPEND PROPERTY ENVIRONMENT "RLVR_COORD_SERVER=$<TARGET_FILE:coord_test_server>")
endif()

add_executable(bench_wire ${CMAKE_SOURCE_DIR}/tests/bench/bench_wire.c)
target_link_libraries(bench_wire PRIVATE rlvr_core)
set_target_properties(bench_wire PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)

add_executable(bench_wire_decode ${CMAKE_SOURCE_DIR}/tests/bench/bench_wire_decode.c)
target_link_libraries(bench_wire_decode PRIVATE rlvr_core)
set_target_properties(bench_wire_decode PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
