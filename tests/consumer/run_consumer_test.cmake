# ctest sdk_consumer: installs the SDK from the build into a fresh prefix, builds tests/consumer against it with
# find_package(bento_client), and runs it against a port where nothing listens (it must say `unreachable`).
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DCXX=... [-DLAUNCHER=...] -P run_consumer_test.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component bento_client_sdk)
foreach(installed include/bento/client/client.hpp include/bento/client/errors.hpp include/bento/client/types.hpp)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "not installed: ${installed}")
  endif()
endforeach()

set(configure_args -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G Ninja -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX})
if(LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
run("configure" ${CMAKE_COMMAND} ${configure_args})
run("build" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)

# Port 1 (tcpmux) on loopback: nothing listens there, and the SDK must say so as a typed error.
run("consumer" ${WORK_DIR}/build/consumer 1)
message(STATUS "${last_output}")
if(NOT last_output MATCHES "bento client sdk [0-9]+\\.[0-9]+\\.[0-9]+" OR NOT last_output MATCHES "error unreachable")
  message(FATAL_ERROR "unexpected consumer output:\n${last_output}")
endif()
