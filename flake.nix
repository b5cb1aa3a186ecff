{
  description = "nixos2docker: NixOS systems as Docker images that boot systemd in stock, unprivileged Docker";

  # No flake.lock is committed: it could not be produced where this project is developed (no network
  # access to nixpkgs). Run `nix flake lock` first; see module/README.md.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The example system (module/example.nix: nginx on port 80) with the module, for a given pkgs.
      example =
        pkgs:
        import (pkgs.path + "/nixos/lib/eval-config.nix") {
          system = null;
          inherit pkgs;
          modules = [
            self.nixosModules.default
            ./module/example.nix
          ];
        };
    in
    {
      # Import into a NixOS configuration; then build config.system.build.dockerImage.
      nixosModules.default = ./module;

      # Adds pkgs.nixos2docker and pkgs.nixos2docker-systemd (replaces nothing).
      overlays.default = import ./module/overlay.nix;

      packages = forAllSystems (
        pkgs:
        let
          imageCfg = (example pkgs).config.virtualisation.dockerVariant.virtualisation.dockerImage;
        in
        rec {
          nixos2docker = pkgs.callPackage ./module/package.nix { };
          # A script that streams the image: `$(nix build .#example-image --print-out-paths) | docker load`.
          example-image = (example pkgs).config.system.build.dockerImage;
          # `nix run .#demo`: load, run and print how to reach the example image.
          demo = pkgs.writeShellApplication {
            name = "nixos2docker-demo";
            # docker comes from the caller's PATH: the demo talks to the caller's daemon.
            text = ''
              name=nixos2docker-demo
              ref=${lib.escapeShellArg "${imageCfg.name}:${imageCfg.tag}"}

              echo "loading $ref ..." >&2
              ${example-image} | docker load >&2
              docker rm -f "$name" >/dev/null 2>&1 || true
              docker run -d --name "$name" --tmpfs /run --tmpfs /run/lock --tmpfs /tmp "$ref" >/dev/null

              echo "waiting for systemd in $name ..." >&2
              state=
              for _ in $(seq 120); do
                state=$(docker exec "$name" systemctl is-system-running --wait 2>/dev/null || true)
                case $state in running|degraded|maintenance) break ;; esac
                sleep 1
              done
              # Per network: Docker 29 no longer reports a top-level IPAddress in NetworkSettings.
              ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$name")
              ip=''${ip%% *}

              cat <<EOF
              container: $name (system: $state)
              web page:  curl http://$ip/    (or run it again with -p 8080:80 to publish the port)
              shell:     docker exec -it $name bash
              journal:   docker exec $name journalctl -b
              diagnose:  docker run --rm $ref doctor
              stop:      docker stop $name && docker rm $name
              EOF
            '';
          };
          default = nixos2docker;
        }
      );

      checks = forAllSystems (
        pkgs:
        # The crate's own tests run in the package's check phase (cargo test).
        { crate = self.packages.${pkgs.stdenv.hostPlatform.system}.nixos2docker; }
        // import ./integration/nixos {
          inherit pkgs;
          nixosModule = self.nixosModules.default;
        }
      );

      apps = forAllSystems (pkgs: {
        demo = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.demo;
          meta.description = "Build, load and run the example image (nginx) and print how to reach it";
        };
      });
    };
}
