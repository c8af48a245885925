# Script mode (cmake -P), run on every build by the sidecar_git_sha target: writes OUT as a C string
# literal of the commit the build is made from, so --version, the build_info metric and the discovery
# metadata name the commit of this build, not the one of the last configure. The file is rewritten
# only when the commit changes, so an unchanged tree recompiles nothing.
#
#   -DOUT=<file>  -DSOURCE_DIR=<repo>  [-DGIT_SHA=<sha>]  (given when there is no .git, as in the image)
if(NOT GIT_SHA)
  execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY "${SOURCE_DIR}"
                  OUTPUT_VARIABLE GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT GIT_SHA)
  set(GIT_SHA unknown)
endif()
set(content "\"${GIT_SHA}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${content}")
  file(WRITE "${OUT}" "${content}")
endif()
