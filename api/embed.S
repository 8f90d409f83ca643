/* embed.S - files of the tree built into the binary as read-only bytes, each followed by
 * a NUL: the OpenAPI document and the web page (web/). Paths are relative to the top of
 * the tree (make runs there). */
    .section .rodata
    .global lgmsd_openapi_json
    .global lgmsd_openapi_json_end
lgmsd_openapi_json:
    .incbin "api/openapi.json"
lgmsd_openapi_json_end:
    .byte 0
    .global lgmsd_web_index_html
    .global lgmsd_web_index_html_end
lgmsd_web_index_html:
    .incbin "web/index.html"
lgmsd_web_index_html_end:
    .byte 0
    .global lgmsd_web_app_js
    .global lgmsd_web_app_js_end
lgmsd_web_app_js:
    .incbin "web/app.js"
lgmsd_web_app_js_end:
    .byte 0
    .global lgmsd_web_app_css
    .global lgmsd_web_app_css_end
lgmsd_web_app_css:
    .incbin "web/app.css"
lgmsd_web_app_css_end:
    .byte 0
    .section .note.GNU-stack,"",@progbits
