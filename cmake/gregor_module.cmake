# gregor_add_module(NAME SOURCES <files...> DEPS <targets...>)
# Declares the static library gregor_<NAME> with public headers under include/.
function(gregor_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(gregor_${name} STATIC ${ARG_SOURCES})
  target_include_directories(gregor_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(gregor_${name} PUBLIC ${ARG_DEPS})
endfunction()

# gregor_add_test(NAME SOURCES <files...> DEPS <targets...>)
# Declares a GoogleTest executable NAME and registers its tests with CTest.
function(gregor_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "GREGOR_TEST_SRC=${PROJECT_SOURCE_DIR}")
endfunction()
