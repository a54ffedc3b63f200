# bash completion for balcli: source this file, or copy it to ~/.local/share/bash-completion/completions/balcli
_balcli_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _BALCLI_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _balcli_completion balcli
