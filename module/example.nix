# An example NixOS configuration for nixos2docker: nginx serving a page on port 80.
# Used by the flake's `packages.<system>.example-image`, `apps.<system>.demo` and the VM tests in
# integration/nixos/. Import ./default.nix next to it (the flake's nixosModules.default).
{ pkgs, ... }:
{
  networking.hostName = "nixos2docker-example";

  services.nginx = {
    enable = true;
    virtualHosts.default = {
      default = true;
      root = pkgs.writeTextDir "index.html" ''
        <!doctype html>
        <title>nixos2docker</title>
        <p>NixOS, booted by systemd in an unprivileged Docker container.</p>
      '';
    };
  };

  # The firewall is off inside the container; its open ports become the image's ExposedPorts.
  networking.firewall.allowedTCPPorts = [ 80 ];

  # To log in over ssh, use keys: no password is set for root, and none should be.
  # services.openssh.enable = true;
  # users.users.root.openssh.authorizedKeys.keys = [ "ssh-ed25519 AAAA… you@example" ];

  system.stateVersion = "25.11";
}
