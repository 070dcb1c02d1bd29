# souk_add_module(<name> SOURCES ...) — a bounded context as its own static library. It sees the
# public headers (include/) and its own folder, nothing of other modules' folders.
function(souk_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(souk_${name} STATIC ${M_SOURCES})
  target_include_directories(souk_${name} PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
  target_link_libraries(souk_${name} PUBLIC souk_kernel ${M_DEPENDS} PRIVATE souk_warnings)
  target_precompile_headers(souk_${name} REUSE_FROM souk_kernel)
  set_property(GLOBAL APPEND PROPERTY SOUK_MODULES souk_${name})
endfunction()
