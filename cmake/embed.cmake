# souk_embed(<target> <symbol> <base_dir> <files...>)
# Generates a C++ source holding each file's bytes, keyed by its path relative to base_dir,
# and adds it to <target>. The generated function is `souk::embedded::<symbol>()`.
set(SOUK_EMBED_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/embed_files.cmake")

function(souk_embed target symbol base_dir)
  set(files ${ARGN})
  set(out "${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.cpp")
  set(list_file "${CMAKE_CURRENT_BINARY_DIR}/embedded_${symbol}.list")
  string(REPLACE ";" "\n" file_lines "${files}")
  file(WRITE "${list_file}.tmp" "${file_lines}")
  file(COPY_FILE "${list_file}.tmp" "${list_file}" ONLY_IF_DIFFERENT)
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DSYMBOL=${symbol} -DBASE=${base_dir} -DLIST=${list_file} -DOUT=${out}
            -P "${SOUK_EMBED_SCRIPT}"
    DEPENDS ${files} "${list_file}" "${SOUK_EMBED_SCRIPT}"
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE "${out}")
endfunction()
