/* fuzz_multipart.c - libFuzzer target: a whole HTTP request through libmicrohttpd into the
 * daemon's upload handling (server/upload.c), multipart/form-data above all.
 *
 * Input: the Content-Type header value, a newline, then the body. The request is written
 * into one end of a socketpair handed to an MHD daemon with no listen socket; the access
 * handler below does what the server's does with the body (raw or multipart), and the
 * daemon is run until it has answered and closed the connection. */
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../server/upload.h"

#define MAX_BODY (256 * 1024)

typedef struct {
    lgmsd_upload up;
    api_options opts;
} fuzz_request;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)cls, (void)url, (void)method, (void)version;
    fuzz_request *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        lgmsd_upload_init(&r->up, MAX_BODY);
        api_options_init(&r->opts);
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (ct && !strncasecmp(ct, "multipart/form-data", 19)) lgmsd_upload_start_form(&r->up, conn);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return lgmsd_upload_feed(&r->up, upload_data, n) ? MHD_NO : MHD_YES;
    }
    int ok = !r->up.too_large && !lgmsd_upload_finish(&r->up, &r->opts);
    size_t len;
    uint8_t *img = lgmsd_upload_take(&r->up, &len);
    if (ok && len && img[0] == 0xff) r->opts.alpha += 0.0f; /* touch the bytes */
    free(img);
    static char body[] = "{}";
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, ok ? 200 : 400, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)conn, (void)toe;
    fuzz_request *r = *con_cls;
    if (!r) return;
    lgmsd_upload_free(&r->up);
    free(r);
    *con_cls = NULL;
}

static struct MHD_Daemon *daemon_once(void) {
    static struct MHD_Daemon *d;
    if (!d)
        d = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_END);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct MHD_Daemon *d = daemon_once();
    if (!d || size > MAX_BODY) return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t body_len = size - (size_t)(body - data);
    char ctype[256];
    size_t n = 0;
    for (size_t i = 0; i < ct_len && n < sizeof ctype - 1; i++) /* keep the header one line */
        if (data[i] != '\r' && data[i] != '\0') ctype[n++] = (char)data[i];
    ctype[n] = 0;
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST /v1/segment HTTP/1.1\r\nHost: fuzz\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      ctype, body_len);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return 0;
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (MHD_add_connection(d, sv[0], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        close(sv[0]), close(sv[1]);
        return 0;
    }
    /* write the request as the daemon drains it, then read until it closes */
    size_t sent = 0, total = (size_t)hl + body_len;
    char sink[4096];
    for (int round = 0; round < 100000; round++) {
        while (sent < total) {
            const void *p = sent < (size_t)hl ? (const void *)(head + sent) : (const void *)(body + (sent - hl));
            size_t left = sent < (size_t)hl ? (size_t)hl - sent : total - sent;
            ssize_t w = send(sv[1], p, left, MSG_NOSIGNAL);
            if (w <= 0) break;
            sent += (size_t)w;
        }
        if (sent == total) shutdown(sv[1], SHUT_WR);
        MHD_run(d);
        ssize_t r = recv(sv[1], sink, sizeof sink, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && sent < total && round > 1000)) break;
    }
    close(sv[1]);
    MHD_run(d); /* let it notice the close and free the connection */
    return 0;
}
