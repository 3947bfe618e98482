# OCI image of AkiDB, the same shape as the one `cargo xtask image` builds: entrypoint
# /usr/local/bin/akidb, non-root user 1000, REST 8080 and gRPC 9090, data in /data.
{ pkgs, akidb, version }:
let
  root = pkgs.runCommand "akidb-root" { } ''
    mkdir -p $out/usr/local/bin $out/data $out/tmp $out/etc
    cp ${akidb}/bin/akidb $out/usr/local/bin/akidb
    echo 'akidb:x:1000:1000:akidb:/data:/sbin/nologin' > $out/etc/passwd
    echo 'akidb:x:1000:' > $out/etc/group
  '';
in
pkgs.dockerTools.buildLayeredImage {
  name = "akidb";
  tag = version;
  contents = [ root pkgs.cacert ];
  # Reproducible: fixed creation time, files owned by root, the data dir by the runtime user.
  created = "1970-01-01T00:00:01Z";
  fakeRootCommands = ''
    chown -R 1000:1000 ./data
    chmod 1777 ./tmp
  '';
  enableFakechroot = false;
  config = {
    Entrypoint = [ "/usr/local/bin/akidb" ];
    User = "1000:1000";
    WorkingDir = "/data";
    ExposedPorts = { "8080/tcp" = { }; "9090/tcp" = { }; };
    Env = [
      "AKIDB_DATA_DIR=/data"
      "AKIDB_REST_ADDR=0.0.0.0:8080"
      "AKIDB_GRPC_ADDR=0.0.0.0:9090"
      "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
    ];
    Volumes = { "/data" = { }; };
    Labels = {
      "org.opencontainers.image.title" = "akidb";
      "org.opencontainers.image.version" = version;
      "org.opencontainers.image.source" = "https://github.com/akidb/akidb";
      "org.opencontainers.image.licenses" = "Apache-2.0";
    };
  };
}
