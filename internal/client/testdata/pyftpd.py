# A real third-party FTP server (pyftpdlib) for wharf's client interop tests.
# Prints "PORT <n>" once listening on 127.0.0.1, then serves until killed.
import argparse, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--user", default="alice")
p.add_argument("--password", default="secret")
p.add_argument("--anonymous", action="store_true")
p.add_argument("--no-epsv", action="store_true")
p.add_argument("--no-mlsd", action="store_true")
p.add_argument("--masquerade", default="")
p.add_argument("--strip", default="", help="commands to remove, comma-separated (an old server: EPSV,EPRT,MLSD,MLST,MFMT,SIZE,MDTM,FEAT)")
p.add_argument("--endless-list", action="store_true", help="LIST and MLSD send lines until the client hangs up")
p.add_argument("--tls-cert", default="", help="PEM with certificate and key: explicit FTPS, required")
a = p.parse_args()

auth = DummyAuthorizer()
auth.add_user(a.user, a.password, a.dir, perm="elradfmwMT")
if a.anonymous:
    auth.add_anonymous(a.dir)

Base = TLS_FTPHandler if a.tls_cert else FTPHandler

class Handler(Base):
    proto_cmds = dict(Base.proto_cmds)

if a.tls_cert:
    Handler.certfile = a.tls_cert
    Handler.tls_control_required = True
    Handler.tls_data_required = True

if a.no_epsv:
    del Handler.proto_cmds["EPSV"]
if a.no_mlsd:
    del Handler.proto_cmds["MLSD"]
    del Handler.proto_cmds["MLST"]
for cmd in filter(None, a.strip.upper().split(",")):
    del Handler.proto_cmds[cmd]
if a.endless_list:
    class Endless:
        # A producer pyftpdlib pulls from while the data socket is writable.
        chunk = b"".join(b"type=file;size=1; f%d\r\n" % i for i in range(4096))
        def more(self):
            return self.chunk
    def endless(self, path):
        self.push_dtp_data(Endless(), isproducer=True, cmd="LIST")
        return path
    Handler.ftp_LIST = endless
    Handler.ftp_MLSD = endless
Handler.authorizer = auth
Handler.auth_failed_timeout = 0.05  # keep the wrong-password test fast
if a.masquerade:
    Handler.masquerade_address = a.masquerade
Handler.permit_foreign_addresses = True

srv = FTPServer(("127.0.0.1", 0), Handler)
print("PORT %d" % srv.socket.getsockname()[1], flush=True)
srv.serve_forever()
