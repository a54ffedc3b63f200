# fish completion for balcli: copy to ~/.config/fish/completions/balcli.fish
complete --command balcli --no-files --arguments "(env _BALCLI_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) balcli)" --condition "env _BALCLI_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args _TYPER_COMPLETE_ARGS=(commandline -cp) balcli"
