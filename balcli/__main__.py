from balcli.cli import main

main()
