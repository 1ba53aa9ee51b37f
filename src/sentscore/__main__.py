from sentscore.cli.main import main

raise SystemExit(main())
