from lmsform.cli import main

main()
