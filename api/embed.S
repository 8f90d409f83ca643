/* embed.S - files of the tree built into the binary as read-only bytes, each followed by
 * a NUL: the OpenAPI document. Paths are relative to the top of the tree (make runs there). */
    .section .rodata
    .global lgmsd_openapi_json
    .global lgmsd_openapi_json_end
lgmsd_openapi_json:
    .incbin "api/openapi.json"
lgmsd_openapi_json_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
