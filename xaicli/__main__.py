from xaicli.cli import main

main()
