/* healthcheck.c - `lgmsd healthcheck`: GET /readyz (or --path) over plain HTTP on
 * loopback and exit 0 on 200, so container images need no curl. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"

int cmd_healthcheck(int argc, char **argv) {
    static const struct option opts[] = {{"host", required_argument, 0, 'H'}, {"port", required_argument, 0, 'p'},
                                         {"path", required_argument, 0, 'P'}, {"timeout", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    const char *host = getenv("LGMSD_HOST"), *port = getenv("LGMSD_PORT"), *path = "/readyz";
    int timeout = 3, c;
    while ((c = getopt_long(argc, argv, "H:p:P:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'H': host = optarg; break;
        case 'p': port = optarg; break;
        case 'P': path = optarg; break;
        case 't': timeout = atoi(optarg); break;
        case 'h':
            printf("usage: lgmsd healthcheck [--host ADDR] [--port N] [--path /readyz] [--timeout S]\n"
                   "Exits 0 if the daemon answers 200 (defaults: LGMSD_HOST/LGMSD_PORT, else 127.0.0.1:8080).\n");
            return 0;
        default: return 2;
        }
    }
    if (!host || !*host || !strcmp(host, "0.0.0.0")) host = "127.0.0.1";
    if (!strcmp(host, "::")) host = "::1";
    if (!port || !*port) port = "8080";
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res)) {
        fprintf(stderr, "healthcheck: cannot resolve %s\n", host);
        return 1;
    }
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol), ok = 0;
    struct timeval tv = {timeout > 0 ? timeout : 3, 0};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd >= 0 && !connect(fd, res->ai_addr, res->ai_addrlen)) {
        char req[512], resp[64] = "";
        int n =
            snprintf(req, sizeof req, "GET %.200s HTTP/1.1\r\nHost: %.100s\r\nConnection: close\r\n\r\n", path, host);
        ssize_t got = write(fd, req, (size_t)n) == n ? read(fd, resp, sizeof resp - 1) : -1;
        if (got > 0) {
            resp[got] = 0;
            ok = !strncmp(resp, "HTTP/1.1 200", 12) || !strncmp(resp, "HTTP/1.0 200", 12);
            if (!ok) fprintf(stderr, "healthcheck: %s answered %.40s\n", path, resp);
        } else {
            fprintf(stderr, "healthcheck: no answer from %s:%s\n", host, port);
        }
    } else {
        fprintf(stderr, "healthcheck: cannot connect to %s:%s\n", host, port);
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    return ok ? 0 : 1;
}
