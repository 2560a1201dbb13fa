// Linked with --js-library: replaces embind's registration of built-in types the module
// never passes to JS (std::wstring / u16string / u32string, emscripten::val, and
// memory_view), so that their JS marshalling code (the UTF-16/32 codecs, the val handle
// table, typed-array views) is left out of the glue: about 0.6 KiB gzip.
// bind.cpp registers them at start-up whatever the bindings use. A binding that ever
// passes one of these types fails loudly, not silently: calling it throws embind's
// UnboundTypeError naming the type.
mergeInto(LibraryManager.library, {
  _embind_register_std_wstring: function (rawType, charSize, name) {},
  _embind_register_emval: function (rawType, name) {},
  _embind_register_memory_view: function (rawType, dataTypeIndex, name) {},
});
